"""Producer/consumer with a queue.Queue, which does the locking itself.

The Producer puts N random integers into the queue, then None to say it is
done. The Consumer gets items, calls task_done() for each one and stops at
None. The main thread waits with join() until every item has been processed.

The Consumer starts once the Producer is done, so every run prints the same
lines and no get() ever finds the queue empty. Start both before joining either
and a get() may find the queue empty and wait: syncscope then also prints
"queue integers_queue empty, get waits by Thread-2" and says how long the get
waited ("158 got from queue integers_queue by Thread-2 after 918 µs"); join()
may also have to wait for the last task_done().

The program prints only what it does with the items ("61 popped from queue by
Thread-2"); the queue lines ("61 put to queue by Thread-1", "61 got from queue
by Thread-2") come from syncscope.
The integers are reproducible: set SYNCSCOPE_EXAMPLES_SEED to change them.

(This file is not called queue.py: that name would hide the standard library
module of the same name.)

Run it with:

    python -m syncscope examples/queue_example.py
"""

import os
import queue
import random
import sys
import threading


N = 5
SEED = int(os.environ.get("SYNCSCOPE_EXAMPLES_SEED", "2011"))


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Producer(threading.Thread):
    """
    Produces random integers to a queue
    """

    def __init__(self, queue):
        """
        Constructor.

        @param queue queue synchronization object
        """
        threading.Thread.__init__(self)
        self.queue = queue

    def run(self):
        """
        Thread run method. Put N random integers in the queue, then None.
        """
        for _ in range(N):
            integer = random.randint(0, 256)
            self.queue.put(integer)
        self.queue.put(None)


class Consumer(threading.Thread):
    """
    Consumes random integers from a queue
    """

    def __init__(self, queue):
        """
        Constructor.

        @param queue queue synchronization object
        """
        threading.Thread.__init__(self)
        self.queue = queue

    def run(self):
        """
        Thread run method. Consumes integers from the queue until None.
        """
        while True:
            integer = self.queue.get()
            if integer is None:
                self.queue.task_done()
                break
            print_line(f"{integer} popped from queue by {self.name}")
            self.queue.task_done()


def main():
    random.seed(SEED)
    integers_queue = queue.Queue()
    t1 = Producer(integers_queue)
    t2 = Consumer(integers_queue)
    # One after the other, so that every run prints the same lines (see above).
    t1.start()
    t1.join()
    t2.start()
    t2.join()
    integers_queue.join()


if __name__ == "__main__":
    main()
