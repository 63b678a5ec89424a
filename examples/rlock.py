"""An RLock acquired twice by the same thread, then released twice.

Each Appender thread takes the RLock in run() to read the list length and
append the next integer as one step, and append() takes the same RLock again
because it may also be called on its own. With a plain Lock the second
acquire() would block forever; an RLock only counts how many times its owner
holds it and is free again after the matching number of release() calls. The
two threads contend for the RLock; the list always ends up as 0, 1, 2, 3.

Run it with:

    python -m syncscope examples/rlock.py
"""

import sys
import threading
import time


ROUNDS = 2
# Short pause between two rounds, so the threads take turns.
PAUSE = 0.001


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Appender(threading.Thread):
    """
    Appends the next integer to a shared list.
    """

    def __init__(self, integers, rlock):
        """
        Constructor.

        @param integers list of integers
        @param rlock reentrant lock protecting the list
        """
        threading.Thread.__init__(self)
        self.integers = integers
        self.rlock = rlock

    def append(self, integer):
        """
        Append one integer to the list, holding the rlock.
        """
        self.rlock.acquire()
        self.integers.append(integer)
        print_line(f"{integer} appended to list by {self.name}")
        self.rlock.release()

    def run(self):
        """
        Thread run method. Append the next integer, ROUNDS times.
        """
        for _ in range(ROUNDS):
            self.rlock.acquire()
            integer = len(self.integers)
            # Second acquire by the same thread: an RLock does not block here.
            self.append(integer)
            self.rlock.release()
            time.sleep(PAUSE)


def main():
    integers = []
    rlock = threading.RLock()
    t1 = Appender(integers, rlock)
    t2 = Appender(integers, rlock)
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    print_line(f"list: {integers}")


if __name__ == "__main__":
    main()
