"""Correct: a Lock as a one-shot signal; the worker releases it after a long job."""

import threading
import time

done = threading.Lock()
done.acquire()


def heartbeat():
    while True:
        time.sleep(0.05)


def job():
    time.sleep(3.5)  # longer than the grace period and the hang timeout
    done.release()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=job, name="job").start()
done.acquire()  # waits for the signal
print("done")
