"""Correct: start-up holds a lock for seconds while workers wait for it and for a ready Event."""

import queue
import threading
import time

config_lock = threading.Lock()
ready = threading.Event()
results = queue.Queue()
config = {}


def heartbeat():
    while True:
        time.sleep(0.05)


def start_up():
    with config_lock:
        time.sleep(3)  # loading, slowly
        config["x"] = 1
    ready.set()


def worker():
    ready.wait()
    with config_lock:
        results.put(config["x"])


def reader():
    with config_lock:
        results.put(config.get("x"))


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
loader = threading.Thread(target=start_up, name="start-up")
loader.start()
threads = [threading.Thread(target=worker, name=f"worker-{n}") for n in range(2)]
threads.append(threading.Thread(target=reader, name="reader"))
for thread in threads:
    thread.start()
for thread in [loader, *threads]:
    thread.join()
