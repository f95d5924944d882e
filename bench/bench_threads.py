"""The cost of making plans safe to call from several threads (issue 15), per call, against same-run baselines.

- slot pool: a plan whose large intermediates live in the memory plan's slot buffers takes one set from a
  per-plan pool per call; the baseline is the same generated code with the buffers as globals (as before).
- state locks: while other threads run, a traced call holds the locks of the tensors it captures (shared
  for inference, exclusive for a training step); the baseline is the same call with no other thread alive,
  when no lock is taken.
- four threads calling one inference plan: calls per second against one thread (NumPy releases the GIL).
"""
from __future__ import annotations

import re
import threading
import time

import numpy as np
from bench_linefit import graphc_step_factory
from common import best_times_interleaved

import graphc.functional as F
from graphc import Parameter, Tensor
from graphc.jit import trace
from graphc.locks import Holding, state_locks


def _globals_version(plan):
    """The plan function as generated before: the slot buffers as globals instead of a per-call pool."""
    lines = plan.source.split("\ndef run(")[0].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "_b = _alloc()") + 2   # after its `try:`
    end = max(i for i, ln in enumerate(lines) if ln.strip() == "_pool.append(_b)") - 1     # its `finally:`
    env = dict(plan.numpy_fn.__globals__)
    env["_b"] = env["_pool"][0]
    src = lines[0] + "\n" + "\n".join(ln[4:] for ln in lines[start:end]) + "\n"
    exec(compile(src, "<baseline plan>", "exec"), env)
    return env["plan"]


def _inference(n: int):
    rng = np.random.default_rng(0)
    w = Parameter(rng.standard_normal((n, n)).astype("float32") / np.sqrt(n))

    @trace
    def f(x):
        h = F.tanh(F.matmul(x, w)) * 2.0
        return F.sum(F.exp(F.matmul(h, w) * 0.1), axis=1)
    x = Tensor(rng.standard_normal((n, n)).astype("float32"))
    f(x)
    f(x)   # the second call replays (its generated replay exists from then on)
    return f, x, w


def _locking(fn) -> None:
    """Make fn's replay take its locks as when other threads run (the code under test; alone it takes none)."""
    fn._last.run.__globals__["threads"] = lambda: 2


def _throughput(fn, threads: int, seconds: float = 1.0) -> float:
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def body(k):
        while time.perf_counter() < stop:
            fn()
            counts[k] += 1
    ts = [threading.Thread(target=body, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def _inference_costs(n: int) -> dict:
    """Per-call seconds of an n x n inference plan: pooled slots vs globals, read locks vs none."""
    f, x, _ = _inference(n)
    plan = f.plan
    args = [x._data, *[t._data for t in f._last.states]]
    assert re.search(r"_pool\.pop\(\)", plan.source), "the plan has no slot buffers"
    old = _globals_version(plan)
    np.testing.assert_array_equal(old(*args)[0], plan.fn(*args)[0])
    g, _, _ = _inference(n)
    _locking(f)
    t = best_times_interleaved({"pool": lambda: plan.fn(*args), "globals": lambda: old(*args),
                                "call": lambda: f(x), "call_unlocked": lambda: g(x)},
                               200 if n <= 128 else 20, rounds=25)
    print(f"{n}x{n} inference plan ({plan.stats['buffers']} slot buffers): pooled {t['pool'] * 1e6:.2f} us, "
          f"globals {t['globals'] * 1e6:.2f} us ({t['pool'] / t['globals']:.3f}x); traced call with read "
          f"locks {t['call'] * 1e6:.2f} us, without {t['call_unlocked'] * 1e6:.2f} us "
          f"({t['call'] / t['call_unlocked']:.3f}x)")
    return t


def _machinery_costs() -> dict:
    """The machinery alone, per call: taking and giving back a set of slot buffers, and holding the locks of
    three state tensors for reading and for writing (an empty call is the baseline)."""
    env = {"_pool": [(np.empty(1),)], "_alloc": lambda: (np.empty(1),)}
    exec("def pooled():\n    try:\n        m0, = _pool.pop()\n    except IndexError:\n        m0, = _alloc()\n"
         "    try:\n        return m0\n    finally:\n        _pool.append((m0,))\n"
         "def bare():\n    return None\n", env)
    read = Holding(state_locks([Tensor(1.0) for _ in range(3)]), False)
    write = Holding(state_locks([Tensor(1.0) for _ in range(3)]), True)

    def held(h):
        def run():
            with h:
                pass
        return run
    t = best_times_interleaved({"bare": env["bare"], "pool": env["pooled"], "read3": held(read),
                                "write3": held(write)}, 20000, rounds=15)
    print(f"per call: slot pool {(t['pool'] - t['bare']) * 1e9:.0f} ns; locks of 3 tensors, reading "
          f"{(t['read3'] - t['bare']) * 1e9:.0f} ns, writing {(t['write3'] - t['bare']) * 1e9:.0f} ns")
    return t


def main() -> dict:
    """Per-call times with and without the thread-safety machinery."""
    r: dict = {"machinery": _machinery_costs()}
    r.update({f"slots_{n}": _inference_costs(n) for n in (128, 384)})
    (step, fn), (alone, _) = graphc_step_factory(True), graphc_step_factory(True)
    step()
    _locking(fn)
    t = best_times_interleaved({"locked": step, "unlocked": alone}, 200, rounds=25)
    r["linefit"] = t
    print(f"line-fit training step ({len(fn._last.states)} state tensors): with write locks "
          f"{t['locked'] * 1e6:.2f} us, without {t['unlocked'] * 1e6:.2f} us ({t['locked'] / t['unlocked']:.3f}x)")
    f, x, _ = _inference(256)
    one, four = _throughput(lambda: f(x), 1), _throughput(lambda: f(x), 4)
    r["throughput"] = {"1": one, "4": four}
    print(f"256x256 inference, calls per second: 1 thread {one:.0f}, 4 threads {four:.0f} ({four / one:.2f}x)")
    return r


if __name__ == "__main__":
    main()
