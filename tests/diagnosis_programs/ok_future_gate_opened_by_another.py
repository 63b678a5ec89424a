"""Correct: main holds a gate Lock, awaits a future whose task blocks on the gate; another thread
releases the gate after 3 s computing."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

gate = threading.Lock()


def opener():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        sum(range(100))
    gate.release()


def task():
    with gate:
        return 1


gate.acquire()
threading.Thread(target=opener).start()
with ThreadPoolExecutor(2) as ex:
    print(ex.submit(task).result())
