"""Correct: two locks taken in both orders, but always under one gate lock."""

import threading

gate = threading.Lock()
alpha = threading.Lock()
beta = threading.Lock()


def forward():
    for _ in range(20):
        with gate:
            with alpha:
                with beta:
                    pass


def backward():
    for _ in range(20):
        with gate:
            with beta:
                with alpha:
                    pass


workers = [
    threading.Thread(target=forward, name="forward"),
    threading.Thread(target=backward, name="backward"),
]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
