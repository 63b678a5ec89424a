"""
Every benchmark, one after the other, each printing its table and writing its JSON.

    python benchmarks/run_all.py                 # JSON files into benchmark-results/
    python benchmarks/run_all.py --out DIR --quick

``--quick`` shortens each (fewer repeats, smaller scale, fewer operations) to check that all
of them run; the figures of a quick run are rougher. A full run takes tens of minutes on
a 2-core machine, most of it the end-to-end table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", default="benchmark-results", help="directory for the JSON files")
    parser.add_argument("--quick", action="store_true", help="short runs, to check they work")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    quick = args.quick
    runs = {
        "ops": ["ops.py", *(["--repeat", "1"] if quick else [])],
        "endtoend": ["endtoend.py", *(["--quick"] if quick else [])],
        "memory": ["memory.py", *(["--ops", "200000"] if quick else [])],
        "export_rate": ["export_rate.py", *(["--seconds", "2"] if quick else [])],
    }
    failed = []
    for name, (script, *options) in runs.items():
        print(f"\n== {name} ==", flush=True)
        command = [
            sys.executable,
            str(HERE / script),
            *options,
            "--json",
            str(out / f"{name}.json"),
        ]
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(name)
    print(f"\nJSON in {out}/" + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
