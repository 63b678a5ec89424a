"""Two threads that take the same two locks in opposite order, and deadlock.

The "transfer" thread takes accounts_lock, then audit_lock; the "audit" thread
takes audit_lock, then accounts_lock. The audit starts after the first
transfer is done. For the second transfer, each thread takes its first lock,
then both meet at a Barrier, so that each holds one lock when it asks for the
other: they wait for each other for ever, in every run.

The program never ends by itself: run it with --deadlock-exit, which reports the
deadlock and ends the program with exit status 3:

    python -m syncscope -q --deadlock-exit examples/deadlock.py
"""

import threading


accounts_lock = threading.Lock()
audit_lock = threading.Lock()
first_transfer_done = threading.Event()
both_hold_one = threading.Barrier(2)


def transfer():
    with accounts_lock, audit_lock:
        print("first transfer done")
    first_transfer_done.set()
    with accounts_lock:
        both_hold_one.wait()
        with audit_lock:
            print("second transfer done")


def audit():
    first_transfer_done.wait()
    with audit_lock:
        both_hold_one.wait()
        with accounts_lock:
            print("audit done")


def main():
    threads = [
        threading.Thread(target=transfer, name="transfer"),
        threading.Thread(target=audit, name="audit"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
