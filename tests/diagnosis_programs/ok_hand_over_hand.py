"""Correct: hand-over-hand locking along a list whose node locks are created at one line."""

import threading


class Node:
    def __init__(self, value):
        self.value = value
        self.lock = threading.Lock()
        self.next = None


head = Node(0)
node = head
for value in range(1, 20):
    node.next = Node(value)
    node = node.next


def walk():
    for _ in range(50):
        node = head
        node.lock.acquire()
        while node.next is not None:
            following = node.next
            following.lock.acquire()
            node.lock.release()
            node = following
        node.lock.release()


workers = [threading.Thread(target=walk, name=f"walker-{n}") for n in range(4)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
