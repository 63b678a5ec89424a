"""A small program run under ``python -m syncscope`` with spans to an OTLP endpoint, and what
its standard error says: the exit line about spans, and the modules it imported."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import run_syncscope


#: A lock taken by a thread of its own: a handful of spans.
PROGRAM = """
import threading
lock = threading.Lock()
def work():
    with lock:
        pass
t = threading.Thread(target=work)
t.start()
t.join(timeout=30)
print("done")
"""


def run_with_otlp(
    tmp_path: Path, url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """PROGRAM under ``-q --no-report --otlp=URL``, its imports listed (``-X importtime``)."""
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    base = {"PYTHONPROFILEIMPORTTIME": "1"}
    done = run_syncscope(
        "-q", "--no-report", f"--otlp={url}", *extra, str(script), env={**base, **(env or {})}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
    return done


def spans_exit_line(stderr: str) -> str:
    """The one ``syncscope: spans:`` line."""
    lines = [line for line in stderr.splitlines() if line.startswith("syncscope: spans:")]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def spans_made(line: str) -> int:
    found = re.search(r"spans: ([\d,]+) made", line)
    assert found is not None, line
    return int(found.group(1).replace(",", ""))


def imported_modules(stderr: str) -> set[str]:
    """The modules ``python -X importtime`` says were imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A key and a certificate for 127.0.0.1, made by the openssl command: (key, cert)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert
