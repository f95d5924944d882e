"""Running a function in several threads at once (the thread-safety tests)."""
from __future__ import annotations

import threading


def in_threads(fn, n: int) -> list:
    """fn(k) in n threads started together; their results (the first exception is raised here)."""
    results: list = [None] * n
    errors: list = []
    start = threading.Barrier(n)

    def body(k):
        start.wait()
        try:
            results[k] = fn(k)
        except BaseException as e:   # reported below, in the test's thread
            errors.append(e)
    ts = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return results
