"""
Bug: ``stop()`` waits for the refresh thread's last frame while holding the lock that frame
needs (a live display's stop, as rich's ``Live`` could be written). Every thread is then
blocked: no heartbeat or other thread runs, and the deadlock is still named as one.
"""

import threading


class Live:
    def __init__(self):
        self._lock = threading.RLock()
        self.done = threading.Event()
        self.stopped = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._refresh, name="refresh")

    def _refresh(self):
        self.started.set()
        while not self.done.wait(0.05):
            with self._lock:
                pass
        with self._lock:  # the last frame
            pass
        self.stopped.set()

    def stop(self):
        with self._lock:
            self.done.set()
            self.stopped.wait()  # waits holding the lock the last frame needs


live = Live()
live.thread.start()
live.started.wait()
live.stop()
