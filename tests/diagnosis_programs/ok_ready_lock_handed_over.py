"""
Correct: a Lock taken in one ``__init__`` is handed to a thread that releases it once ready;
another class's ``__init__`` in the same file waits for it. Not a lock the waiter holds.
"""

import threading
import time


class Worker(threading.Thread):
    def __init__(self):
        super().__init__(name="worker", daemon=True)
        self.ready = threading.Lock()
        self.ready.acquire()  # released by the worker when it is ready
        self.start()

    def run(self):
        time.sleep(3)  # connecting: longer than the grace and the hang timeout
        self.ready.release()

    def wait_ready(self):
        with self.ready:
            pass


class Front:
    def __init__(self):
        self.worker = Worker()
        self.worker.wait_ready()


Front()
print("ready")
