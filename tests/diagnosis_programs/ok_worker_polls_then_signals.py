"""Correct: a worker polls its stop Event with wait(0.1) for 3 s, then sets finished and
releases a Semaphore(0); the main thread waits for both meanwhile."""

import threading


class Job:
    def __init__(self):
        self.finished = threading.Event()
        self.released = threading.Semaphore(0)
        self.stop = threading.Event()

    def run(self):
        for _ in range(30):
            if self.stop.wait(0.1):
                break
        self.finished.set()
        self.released.release()


job = Job()
threading.Thread(target=job.run, name="job").start()
job.finished.wait()
job.released.acquire()
print("job finished")
