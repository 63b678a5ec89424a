"""Correct: a thread holds a lock for a long while; the others poll it with timed acquires."""

import threading
import time

resource = threading.Lock()
busy = threading.Event()


def owner():
    with resource:
        busy.set()
        time.sleep(3)


def poller():
    busy.wait()
    while not resource.acquire(timeout=0.2):
        pass
    resource.release()


workers = [threading.Thread(target=owner, name="owner")]
workers += [threading.Thread(target=poller, name=f"poller-{n}") for n in range(2)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
