"""
A short ordinary program, about a third of a second under plain python: an order-pricing
service in miniature. Worker threads wait on an Event until the catalogue is loaded, take
orders from a queue.Queue, price each line through a cache of product prices guarded by a Lock
(a miss computes the price outside the lock), and count what they finish under a Condition that
the main thread waits on. A ThreadPoolExecutor then sums up each customer's orders. No I/O.

    python realistic.py [SCALE]
"""

import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


WORKERS = 4
# Orders at scale 1: about 0.3 s under plain python on a current x86-64 core.
ORDERS = 1_500
LINES_PER_ORDER = 4
PRODUCTS = 300
CUSTOMERS = 40
MODULUS = 1_000_003


def mix(seed: int, rounds: int) -> int:
    acc = seed
    for i in range(rounds):
        acc = (acc * 31 + i) % MODULUS
    return acc


class PriceCache:
    """Prices by product, computed once each; the lock is never held while computing."""

    def __init__(self) -> None:
        self.prices: dict[int, int] = {}
        self.lock = threading.Lock()
        self.misses = 0

    def price(self, product: int) -> int:
        with self.lock:
            found = self.prices.get(product)
        if found is not None:
            return found
        computed = 100 + mix(product, 2_000) % 900
        with self.lock:
            if product not in self.prices:
                self.prices[product] = computed
                self.misses += 1
            return self.prices[product]


class Progress:
    """Orders finished, and a Condition to wait for all of them."""

    def __init__(self) -> None:
        self.done = 0
        self.cond = threading.Condition()

    def finished(self) -> None:
        with self.cond:
            self.done += 1
            self.cond.notify_all()

    def wait_for(self, count: int) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: self.done >= count, timeout=60):
                raise RuntimeError(f"only {self.done} of {count} orders finished")


def order_lines(order: int) -> list[tuple[int, int]]:
    """(product, quantity) pairs: a few popular products, then a long tail."""
    return [
        (mix(order * LINES_PER_ORDER + line, 20) % PRODUCTS, 1 + (order + line) % 5)
        for line in range(LINES_PER_ORDER)
    ]


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    count = max(int(ORDERS * scale), 1)
    loaded = threading.Event()
    orders: queue.Queue[int | None] = queue.Queue(maxsize=64)
    cache = PriceCache()
    progress = Progress()
    totals: dict[int, int] = {}  # order -> total, one writer per key
    catalogue: list[int] = []

    def worker() -> None:
        loaded.wait(timeout=60)
        while True:
            order = orders.get()
            if order is None:
                return
            total = 0
            for product, quantity in order_lines(order):
                # Checking the line against the catalogue: the work that is not synchronized.
                total += cache.price(product) * quantity + mix(catalogue[product], 150) % 7
            totals[order] = total
            progress.finished()

    threads = [threading.Thread(target=worker, name=f"worker-{n}") for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    catalogue.extend(mix(product, 50) for product in range(PRODUCTS))
    loaded.set()
    for order in range(count):
        orders.put(order)
    progress.wait_for(count)
    for _ in threads:
        orders.put(None)
    for thread in threads:
        thread.join(timeout=60)

    def customer_total(customer: int) -> int:
        return sum(total for order, total in totals.items() if order % CUSTOMERS == customer)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        by_customer = list(pool.map(customer_total, range(CUSTOMERS)))
    assert sum(by_customer) == sum(totals.values())
    print(
        f"realistic: {count} orders, {cache.misses} prices computed, "
        f"top customer {max(range(CUSTOMERS), key=by_customer.__getitem__)}, "
        f"revenue {sum(by_customer)}"
    )


if __name__ == "__main__":
    main()
