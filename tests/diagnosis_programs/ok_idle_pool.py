"""Correct: a hand-made pool's workers idle on its queue while the main thread computes."""

import queue
import threading
import time


class Pool:
    def __init__(self, size):
        self.tasks = queue.Queue()
        self.workers = [
            threading.Thread(target=self.work, name=f"pool-{n}", daemon=True) for n in range(size)
        ]
        for worker in self.workers:
            worker.start()

    def work(self):
        while True:
            task = self.tasks.get()
            task()
            self.tasks.task_done()


def heartbeat():
    while True:
        time.sleep(0.05)


def prepare():
    time.sleep(3)  # a long computation before the first task


def main():
    threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
    pool = Pool(2)
    prepare()
    pool.tasks.put(lambda: None)
    pool.tasks.join()


main()
