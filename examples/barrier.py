"""Three threads meeting at a Barrier, twice.

Each Worker does the work of phase 1, waits at the barrier until all three
have got there, then does phase 2 and meets the others at the barrier again.
No thread starts phase 2 before all three have finished phase 1.

Run it with:

    python -m syncscope examples/barrier.py
"""

import sys
import threading


PARTIES = 3
PHASES = 2


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Worker(threading.Thread):
    """
    Works in phases, meeting the other workers after each one.
    """

    def __init__(self, barrier):
        """
        Constructor.

        @param barrier barrier shared by all workers
        """
        threading.Thread.__init__(self)
        self.barrier = barrier

    def run(self):
        """
        Thread run method. Work through the phases.
        """
        for phase in range(1, PHASES + 1):
            print_line(f"phase {phase} done by {self.name}")
            self.barrier.wait()


def main():
    barrier = threading.Barrier(PARTIES)
    workers = [Worker(barrier) for _ in range(PARTIES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
