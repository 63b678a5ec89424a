"""Producer/consumer with an Event: set() then clear() right away.

The Producer appends N random integers to a shared list and, after each one,
sets the event and clears it right away to wake the Consumer. An event that is
set and cleared at once can be missed by a Consumer that was not waiting yet,
so the Consumer only waits when the list is empty, waits with a short timeout,
and stops after N integers, or once the Producer has finished and the list is
empty. It never hangs, whatever the interleaving.

The program prints only its own lines ("124 appended to list by Thread-1",
"124 popped from list by Thread-2"); the event lines come from syncscope.
The integers are reproducible: set SYNCSCOPE_EXAMPLES_SEED to change them.

Run it with:

    python -m syncscope examples/event.py
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
WAIT_TIMEOUT = 0.05


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Producer(threading.Thread):
    """
    Produces random integers to a list
    """

    def __init__(self, integers, event):
        """
        Constructor.

        @param integers list of integers
        @param event event synchronization object
        """
        threading.Thread.__init__(self)
        self.integers = integers
        self.event = event

    def run(self):
        """
        Thread run method. Append N random integers to the integers list.
        """
        for _ in range(N):
            integer = random.randint(0, 256)
            self.integers.append(integer)
            print_line(f"{integer} appended to list by {self.name}")
            self.event.set()
            self.event.clear()
            time.sleep(PAUSE)


class Consumer(threading.Thread):
    """
    Consumes random integers from a list
    """

    def __init__(self, integers, event, producer):
        """
        Constructor.

        @param integers list of integers
        @param event event synchronization object
        @param producer thread filling the list
        """
        threading.Thread.__init__(self)
        self.integers = integers
        self.event = event
        self.producer = producer

    def run(self):
        """
        Thread run method. Consumes N integers from list
        """
        popped = 0
        while popped < N:
            try:
                integer = self.integers.pop()
            except IndexError:
                # catch pop on empty list
                if not self.producer.is_alive() and not self.integers:
                    break
                self.event.wait(timeout=WAIT_TIMEOUT)
                continue
            popped += 1
            print_line(f"{integer} popped from list by {self.name}")


def main():
    random.seed(SEED)
    integers = []
    event = threading.Event()
    t1 = Producer(integers, event)
    t2 = Consumer(integers, event, t1)
    t1.start()
    t2.start()
    t1.join()
    t2.join()


if __name__ == "__main__":
    main()
