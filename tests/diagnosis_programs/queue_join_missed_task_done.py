"""Bug: the worker skips task_done() on one path; join() waits for ever, the worker idles."""

import queue
import threading
import time

jobs = queue.Queue()


def heartbeat():
    while True:
        time.sleep(0.05)


def worker():
    while True:
        record = jobs.get()  # line 17
        if not record:
            continue  # the bug: no task_done() on this path
        jobs.task_done()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=worker, name="worker", daemon=True).start()
for record in ("a", "", "b"):
    jobs.put(record)
jobs.join()  # line 27
