"""A Semaphore(2) limiting a shared server to two connections at a time.

Four Worker threads each send two requests to one Server. A
threading.Semaphore(2) lets at most two of them in at once: the first request
uses acquire() and release() explicitly, the second uses the semaphore in a
"with" block. The Server counts its open connections, which never go above 2.

At the end, a BoundedSemaphore is released once more than it was acquired:
unlike a plain Semaphore, it refuses with a ValueError.

Run it with:

    python -m syncscope examples/semaphore.py
"""

import sys
import threading
import time


WORKERS = 4
# Made-up time the server takes to serve one request, in seconds.
SERVICE_TIME = 0.002


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Server:
    """
    Made-up server with limited capacity.
    """

    def __init__(self):
        self.connections = []

    def handle(self, request, name):
        """
        Serve one request for the thread called name.
        """
        self.connections.append(name)
        time.sleep(SERVICE_TIME)
        print_line(f"request {request} served by {name}, open connections: {len(self.connections)}")
        self.connections.remove(name)


class Worker(threading.Thread):
    """
    Sends requests to the server.
    """

    def __init__(self, server, semaphore):
        """
        Constructor.

        @param server shared server
        @param semaphore semaphore bounding the number of connections
        """
        threading.Thread.__init__(self)
        self.server = server
        self.semaphore = semaphore

    def run(self):
        """
        Thread run method. Send two requests.
        """
        self.semaphore.acquire()
        self.server.handle(1, self.name)
        self.semaphore.release()

        with self.semaphore:
            self.server.handle(2, self.name)


def main():
    server = Server()
    semaphore = threading.Semaphore(2)
    workers = [Worker(server, semaphore) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    bounded_semaphore = threading.BoundedSemaphore(2)
    bounded_semaphore.acquire()
    bounded_semaphore.release()
    try:
        bounded_semaphore.release()
    except ValueError as error:
        print_line(f"extra release refused: {error}")


if __name__ == "__main__":
    main()
