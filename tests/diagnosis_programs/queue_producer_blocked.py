"""
Bug: an event loop's thread blocks in ``concurrent.futures.Future.result()`` for a worker's
answer, while the worker waits in ``jobs.get()`` for a follow-up item that only the loop,
after the answer, would put. A heartbeat beats meanwhile (``Event.wait(0.1)``): the hang is
found while it runs, from the worker's queue, whose only producer is blocked for good.
"""

import asyncio
import concurrent.futures
import queue
import threading

jobs = queue.Queue()
stop_heartbeat = threading.Event()
beats = 0


def heartbeat():
    global beats
    while not stop_heartbeat.wait(0.1):
        beats += 1


def worker():
    while True:
        job = jobs.get()
        if job is None:
            return
        kind, fut = job
        if kind == "ask":
            fut.set_result(42)
        elif kind == "two-step":
            # needs the follow-up before it can answer: the loop only sends it after the answer
            follow = jobs.get()
            fut.set_result(follow)


async def main():
    for _ in range(3):  # normal round trips, awaited properly
        fut = concurrent.futures.Future()
        jobs.put(("ask", fut))
        print("answer", await asyncio.wrap_future(fut))
    fut = concurrent.futures.Future()
    jobs.put(("two-step", fut))
    answer = fut.result()  # BUG: blocks the loop's thread; the follow-up is never sent
    jobs.put(("follow-up", None))
    print("never", answer)


threading.Thread(target=heartbeat, name="heartbeat", daemon=True).start()
threading.Thread(target=worker, name="worker", daemon=True).start()
asyncio.run(main())
