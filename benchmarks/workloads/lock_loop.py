"""
Lock operations for the memory benchmark: two threads, each acquiring and releasing its own
Lock, OPS operations in all (an operation is one acquire or one release, so OPS / 2 pairs).
At the end it prints the process's peak RSS.

    python lock_loop.py [OPS]
"""

import re
import resource
import sys
import threading
from pathlib import Path


THREADS = 2
OPS = 10_000_000


def loop(pairs: int) -> None:
    lock = threading.Lock()  # one per thread: no contention, only the operations' own cost
    for _ in range(pairs):
        lock.acquire()
        lock.release()


def peak_rss_kb() -> tuple[int, int | None]:
    """getrusage's ru_maxrss and /proc's VmHWM (None where there is no /proc), in kB."""
    # ru_maxrss is in kilobytes on Linux (bytes on macOS). Linux carries it over fork and exec:
    # it is at least the RSS the parent had when it started this process. VmHWM is the peak of
    # this program's own memory only.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return maxrss, None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return maxrss, int(match.group(1)) if match else None


def main() -> None:
    ops = int(sys.argv[1]) if len(sys.argv) > 1 else OPS
    pairs = ops // (2 * THREADS)
    threads = [threading.Thread(target=loop, args=(pairs,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    maxrss, hwm = peak_rss_kb()
    peak = f"peak RSS {hwm} kB (VmHWM), ru_maxrss {maxrss} kB" if hwm else f"peak RSS {maxrss} kB"
    print(f"lock_loop: {2 * THREADS * pairs} lock operations, {peak}")


if __name__ == "__main__":
    main()
