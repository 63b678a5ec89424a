"""Bug: workers that fail leak their permit; later ones find none (the idents are reused)."""

import threading
import time

slots = threading.BoundedSemaphore(2)


def heartbeat():
    while True:
        time.sleep(0.05)


def job(n):
    slots.acquire()  # line 15
    if n % 2:
        return  # the leak: no release on this path
    slots.release()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
for n in range(4):  # one after another: each new thread gets the ident of the last
    worker = threading.Thread(target=job, args=(n,), name=f"job-{n}")
    worker.start()
    worker.join()
last = threading.Thread(target=job, args=(4,), name="job-4")
last.start()
while last.is_alive():
    last.join(0.5)
