"""Producer/consumer with a Condition used in "with" blocks, with notify() and wait().

The Producer appends N random integers to a shared list, notifying the
Consumer after each one; the Consumer pops N integers, waiting on the
condition whenever the list is empty. The Consumer checks the list under the
condition before it waits, so a notify() sent while it was not waiting is
never lost. Both threads stop after N integers. The "with" block calls
acquire() when it is entered and release() when it is left.

The program prints only its own lines ("159 appended to list by Thread-1",
"159 popped from list by Thread-2"); the condition lines come from syncscope.
The integers are reproducible: set SYNCSCOPE_EXAMPLES_SEED to change them.

Run it with:

    python -m syncscope examples/condition_with.py
"""

import os
import random
import sys
import threading
import time


N = 5
SEED = int(os.environ.get("SYNCSCOPE_EXAMPLES_SEED", "2011"))
# Short pause between two integers, so the consumer often has to wait.
PAUSE = 0.001


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Producer(threading.Thread):
    """
    Produces random integers to a list
    """

    def __init__(self, integers, condition):
        """
        Constructor.

        @param integers list of integers
        @param condition condition synchronization object
        """
        threading.Thread.__init__(self)
        self.integers = integers
        self.condition = condition

    def run(self):
        """
        Thread run method. Append N random integers to the integers list.
        """
        for _ in range(N):
            integer = random.randint(0, 256)
            with self.condition:
                self.integers.append(integer)
                print_line(f"{integer} appended to list by {self.name}")
                self.condition.notify()
            time.sleep(PAUSE)


class Consumer(threading.Thread):
    """
    Consumes random integers from a list
    """

    def __init__(self, integers, condition):
        """
        Constructor.

        @param integers list of integers
        @param condition condition synchronization object
        """
        threading.Thread.__init__(self)
        self.integers = integers
        self.condition = condition

    def run(self):
        """
        Thread run method. Consumes N integers from list
        """
        for _ in range(N):
            with self.condition:
                while True:
                    if self.integers:
                        integer = self.integers.pop()
                        print_line(f"{integer} popped from list by {self.name}")
                        break
                    self.condition.wait()


def main():
    random.seed(SEED)
    integers = []
    condition = threading.Condition()
    t1 = Producer(integers, condition)
    t2 = Consumer(integers, condition)
    t1.start()
    t2.start()
    t1.join()
    t2.join()


if __name__ == "__main__":
    main()
