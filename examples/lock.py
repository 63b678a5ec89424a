"""A Lock protecting the file write, with explicit acquire() and release().

The FetchUrls threads share one threading.Lock, so only one thread writes to
the output file at a time. The program prints only its own lines ("write done
by Thread-2", "URL ... fetched by Thread-2"); the lock lines ("lock acquired
by Thread-2", ...) come from syncscope.

No network is used: the page bodies are made up, and the output file lives in
a temporary directory that is removed at the end.

Thread-2 starts once Thread-1 is done, so every run prints the same lines and
neither thread ever finds the lock taken. Start both before joining either and
they overlap: then a thread that finds the lock taken also prints "lock wait by
Thread-2" when it starts waiting, and "lock acquired by Thread-2 after 41 µs".

Run it with:

    python -m syncscope examples/lock.py
"""

import io
import sys
import tempfile
import threading
import time
from pathlib import Path


# Made-up network latency of one fetch, in seconds.
FETCH_DELAY = 0.002


def print_line(line):
    """Print line with a single write and flush it, so lines printed by
    different threads never run into each other."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def urlopen(url):
    """Return a file-like object holding a made-up page body for url."""
    time.sleep(FETCH_DELAY)
    body = f"<html><head><title>{url}</title></head><body>Page of {url}</body></html>\n"
    return io.StringIO(body)


class FetchUrls(threading.Thread):
    """
    Thread fetching URLs.
    """

    def __init__(self, urls, output, lock):
        """
        Constructor.

        @param urls list of urls to fetch
        @param output file to write urls output
        @param lock lock protecting the output file
        """
        threading.Thread.__init__(self)
        self.urls = urls
        self.output = output
        self.lock = lock

    def run(self):
        """
        Thread run method. Fetch URLs one by one.
        """
        while self.urls:
            url = self.urls.pop()
            d = urlopen(url)
            self.lock.acquire()
            self.output.write(d.read())
            print_line(f"write done by {self.name}")
            self.lock.release()
            print_line(f"URL {url} fetched by {self.name}")


def main():
    # list 1 of urls to fetch
    urls1 = ["http://www.example.com", "http://www.example.org"]
    # list 2 of urls to fetch
    urls2 = ["http://www.example.net", "http://www.example.com/about"]
    lock = threading.Lock()
    with (
        tempfile.TemporaryDirectory() as directory,
        open(Path(directory) / "output.txt", "w+") as f,
    ):
        t1 = FetchUrls(urls1, f, lock)
        t2 = FetchUrls(urls2, f, lock)
        # One after the other, so that every run prints the same lines (see above).
        t1.start()
        t1.join()
        t2.start()
        t2.join()


if __name__ == "__main__":
    main()
