"""
Correct: a producer puts a first item, then waits for a long computation's result (a Future
another thread completes later than the hang timeout) before it puts the rest; its consumer
waits for the next item meanwhile, and a heartbeat beats. The computing thread names the
Future, not the queue: it feeds the producer's wait, which feeds the consumer's.
"""

import concurrent.futures
import queue
import threading
import time

items = queue.Queue()
answer = concurrent.futures.Future()
stop = threading.Event()


def heartbeat():
    while not stop.wait(0.1):
        pass


def compute():
    time.sleep(3)  # longer than the hang timeout
    answer.set_result(42)


def produce():
    items.put(1)
    items.put(answer.result())
    items.put(None)


def consume(got):
    while (item := items.get()) is not None:
        got.append(item)


got = []
threads = [
    threading.Thread(target=heartbeat, name="heartbeat"),
    threading.Thread(target=compute, name="compute"),
    threading.Thread(target=produce, name="producer"),
    threading.Thread(target=consume, args=(got,), name="consumer"),
]
for thread in threads:
    thread.start()
for thread in threads[1:]:
    thread.join()
stop.set()
threads[0].join()
print(got)
