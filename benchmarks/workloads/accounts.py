"""
A lock per object: 100,000 accounts, each with a Lock of its own, made up front; 4 threads
then make transfers between accounts picked at random, each taking the two accounts' locks
in the order of their numbers (so that no two transfers deadlock). Most of what a tool adds
here is per lock made and per lock first taken, not per operation on a hot lock.

    python accounts.py [SCALE]
"""

import sys
import threading


THREADS = 4
# At scale 1: about 0.5 s under plain python on a 2-core machine.
ACCOUNTS = 100_000
TRANSFERS = 200_000  # in all
ROUNDS = 20


class Account:
    def __init__(self, number: int, balance: int) -> None:
        self.number = number
        self.balance = balance
        self.lock = threading.Lock()


def work(seed: int) -> int:
    acc = seed
    for i in range(ROUNDS):
        acc = (acc * 31 + i) % 1_000_003
    return acc


def transfers(accounts: list[Account], seed: int, count: int, checksums: list[int]) -> None:
    state = seed
    checksum = 0
    for _ in range(count):
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
        first = accounts[state % len(accounts)]
        second = accounts[(state // len(accounts)) % len(accounts)]
        if first is second:
            continue
        low, high = (first, second) if first.number < second.number else (second, first)
        amount = work(state) % 10
        with low.lock, high.lock:
            first.balance -= amount
            second.balance += amount
        checksum = (checksum + amount) % 1_000_003
    checksums[seed] = checksum


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    accounts = [Account(n, 100) for n in range(max(int(ACCOUNTS * scale), 2))]
    per_thread = max(int(TRANSFERS * scale) // THREADS, 1)
    checksums = [0] * THREADS
    threads = [
        threading.Thread(target=transfers, args=(accounts, seed, per_thread, checksums))
        for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = sum(account.balance for account in accounts)
    assert total == 100 * len(accounts), total
    print(f"accounts: {len(accounts)} accounts, total {total}, checksum {sum(checksums)}")


if __name__ == "__main__":
    main()
