"""Bug: a worker waits for an Event the starter forgot to set; main joins with a long timeout."""

import threading
import time

start_signal = threading.Event()


def heartbeat():
    while True:
        time.sleep(0.05)


def worker():
    start_signal.wait()  # line 15: nobody ever sets it
    print("working")


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
waiting = threading.Thread(target=worker, name="worker")
waiting.start()
waiting.join(timeout=30)  # a join(timeout) watchdog
