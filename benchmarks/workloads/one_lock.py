"""
The floor: four threads and one Lock, nothing else. Each thread takes the lock once and ends.
What a tool adds to this program is its fixed cost: starting, installing itself, and whatever
it does at exit (a report, a flush, writing a file).

    python one_lock.py [SCALE]

SCALE is accepted like the other workloads take it, and ignored: there is nothing to scale.
"""

import threading


THREADS = 4

taken = 0
lock = threading.Lock()


def take() -> None:
    global taken
    with lock:
        taken += 1


def main() -> None:
    threads = [threading.Thread(target=take) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken == THREADS, taken
    print(f"one_lock: {THREADS} threads took one lock {taken} times")


if __name__ == "__main__":
    main()
