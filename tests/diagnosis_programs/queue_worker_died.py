"""Bug: the only worker dies on a bad item; the main thread waits in join() for ever."""

import queue
import threading
import time

jobs = queue.Queue()


def heartbeat():
    while True:
        time.sleep(0.05)


def worker():
    while True:
        job = jobs.get()
        result = 10 // job  # line 18: ZeroDivisionError on 0
        print(result)
        jobs.task_done()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=worker, name="worker", daemon=True).start()
for job in (5, 0, 2):
    jobs.put(job)
jobs.join()  # line 27
