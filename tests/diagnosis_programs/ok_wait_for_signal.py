"""
Correct: a server's main thread waits for the signal that ends it (SIGALRM here, SIGTERM in
real life), whose handler sets an Event; its workers wait for jobs meanwhile.
"""

import queue
import signal
import threading

stop = threading.Event()
jobs = queue.Queue()


def worker():
    while jobs.get() is not None:
        pass


signal.signal(signal.SIGALRM, lambda number, frame: stop.set())
workers = [threading.Thread(target=worker, name=f"worker-{n}") for n in range(2)]
for thread in workers:
    thread.start()
signal.alarm(3)  # longer than the hang timeout
stop.wait()
for _ in workers:
    jobs.put(None)
for thread in workers:
    thread.join()
print("stopped")
