"""Two threads taking the same two locks in opposite order.

Thread-1 moves money from account A to account B: it takes A's lock, then
B's. Thread-2 moves money back: it takes B's lock, then A's. Started together,
they could deadlock, each holding one lock and waiting for the other. Here
Thread-2 only starts once Thread-1 has finished, so this run always completes,
but the lock-order inversion (A then B, B then A) is still there for a
detector to report.

Run it with:

    python -m syncscope examples/deadlock_order.py
"""

import sys
import threading


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Account:
    """
    Bank account protected by its own lock.
    """

    def __init__(self, name, balance, lock):
        self.name = name
        self.balance = balance
        self.lock = lock


class Transfer(threading.Thread):
    """
    Moves an amount from one account to another.
    """

    def __init__(self, source, destination, amount):
        """
        Constructor.

        @param source account to take the amount from
        @param destination account to give the amount to
        @param amount amount to move
        """
        threading.Thread.__init__(self)
        self.source = source
        self.destination = destination
        self.amount = amount

    def run(self):
        """
        Thread run method. Lock the source, then the destination, and move the amount.
        """
        with self.source.lock, self.destination.lock:
            self.source.balance -= self.amount
            self.destination.balance += self.amount
            print_line(
                f"{self.amount} moved from account {self.source.name} "
                f"to account {self.destination.name} by {self.name}"
            )


def main():
    lock_a = threading.Lock()
    lock_b = threading.Lock()
    account_a = Account("A", 100, lock_a)
    account_b = Account("B", 100, lock_b)
    t1 = Transfer(account_a, account_b, 10)
    t2 = Transfer(account_b, account_a, 20)
    # Thread-2 starts only after Thread-1 is done, so the run cannot deadlock.
    t1.start()
    t1.join()
    t2.start()
    t2.join()
    print_line(f"balances: A={account_a.balance} B={account_b.balance}")


if __name__ == "__main__":
    main()
