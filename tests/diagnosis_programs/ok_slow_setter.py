"""Correct: the main thread waits on an Event a worker sets after a long computation."""

import threading
import time

done = threading.Event()
gate = threading.Barrier(2)
results = []


def heartbeat():
    while True:
        time.sleep(0.05)


def compute():
    time.sleep(3)  # longer than the hang timeout
    return 42


def worker():
    results.append(compute())
    done.set()


def late_party():
    time.sleep(3)
    gate.wait()


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=worker, name="worker").start()
threading.Thread(target=late_party, name="late-party").start()
gate.wait()
done.wait()
print(results)
