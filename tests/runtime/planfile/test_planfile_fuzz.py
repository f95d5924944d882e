"""Fuzzing the plan-file loader: mutated valid files either load or raise PlanFormatError, nothing else.

Byte-level mutations (flips, truncations, insertions) must always be refused: every byte is covered by the
magic, the header length or a checksum. Field-level mutations re-checksum the edited description, so they
reach the validator itself; a few still describe a valid plan, which must then load and verify.
"""
from __future__ import annotations

import copy
import io
import json
import os
import random
import subprocess
import sys
import time
import traceback

import pytest
from plan_helpers import mlp_predict, mlp_step, pack, unpack

from graphc import PlanFormatError
from graphc.runtime import planfile
from graphc.saved_plan import dump_trace, load

BYTE_CASES = 1500        # per base file
FIELD_CASES = 1200       # per base file

_POOL = [0, 1, -1, 2, 3, 7, 2 ** 31, 2 ** 32 + 1, 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1.5,
         -0.0, 1e308, True, False, None, "", "x", "float32", "float64", "int32", "bool", "object", "<U5",
         "fused", "add", "matmul", "input", "update", "gpu", "0" * 64, "a" * 5000, [], [0], [1, 2], [[0]],
         [2 ** 40] * 3, [-1], {}, {"t": []}, {"t": [0, None]}, {"l": [1]}, {"f": "nan"}, {"f": 1}, {"g": {}},
         {"x": 1}, {"t": [{"t": [{"t": [0]}]}]}, "N", "M", "784*N", "N - 1", "2*N*N", "_q0", "N+1", {"d": "N"},
         {"d": "M"}, {"d": 3}, ["equal", "N", "4", "r"], ["divides", "N", "0", "r"], ["_q0", "N", 2], ["q", "M", 0]]


@pytest.fixture(scope="module")
def base_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    predict, x = mlp_predict()
    predict(x)
    dump_trace(predict, folder / "predict.gcplan")
    step, _, batches = mlp_step(optimizer="sgd", symbolic_shape=True)   # free batch size: format 2's fields
    step(*batches[0])
    dump_trace(step, folder / "step.gcplan", optimize_for_inference=False)
    return [(folder / name).read_bytes() for name in ("predict.gcplan", "step.gcplan")]


def _outcome(blob: bytes) -> str:
    """'ok' or 'refused'; anything else that escapes fails the test with the mutation that caused it."""
    try:
        load(io.BytesIO(blob), verify=True)
    except PlanFormatError as e:
        assert "\n" not in str(e), str(e)
        return "refused"
    return "ok"


def _byte_mutation(rng: random.Random, blob: bytes) -> bytes:
    b = bytearray(blob)
    kind = rng.randrange(4)
    if kind == 0:                       # flip bits in 1 to 3 bytes
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] ^= rng.randint(1, 255)
    elif kind == 1:                     # truncate
        del b[rng.randrange(len(b)):]
    elif kind == 2:                     # insert bytes
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    else:                               # delete a run of bytes
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 64)]
    return bytes(b)


def _paths(obj, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _variant(rng: random.Random, value: object) -> object:
    """A random replacement: from the pool, or a nearby version of the current value."""
    if rng.random() < 0.5:
        return copy.deepcopy(rng.choice(_POOL))
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value, value * 2 ** 20, value + 2 ** 32])
    if isinstance(value, str):
        return rng.choice([value + "x", value[:-1], value.upper(), value * 3])
    if isinstance(value, list) and value:
        v = list(value)
        op = rng.randrange(3)
        if op == 0:
            v.pop(rng.randrange(len(v)))
        elif op == 1:
            v.insert(rng.randrange(len(v) + 1), copy.deepcopy(rng.choice(v)))
        else:
            rng.shuffle(v)
        return v
    if isinstance(value, dict) and value:
        v = dict(value)
        v.pop(rng.choice(list(v)))
        return v
    return copy.deepcopy(rng.choice(_POOL))


def _field_mutation(rng: random.Random, text: str, paths: list[tuple]) -> tuple[dict, tuple]:
    h = json.loads(text)   # a fresh copy, faster than deepcopy
    path = rng.choice(paths[1:])
    parent = h
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.1:
        parent["extra_" + str(key)] = 1 if rng.random() < 0.5 else parent.pop(key)
    elif isinstance(parent, list) and rng.random() < 0.1:
        parent.pop(key)
    else:
        parent[key] = _variant(rng, parent[key])
    return h, path


def test_byte_mutations_are_always_refused(base_files):
    rng = random.Random(1234)
    t0 = time.perf_counter()
    n = 0
    for blob in base_files:
        for _ in range(BYTE_CASES):
            bad = _byte_mutation(rng, blob)
            if bad == blob:
                continue
            try:
                outcome = _outcome(bad)
            except Exception:
                pytest.fail(f"a byte mutation raised something else than PlanFormatError:\n"
                            f"{traceback.format_exc()}")
            assert outcome == "refused", "a corrupted file was accepted"
            n += 1
    print(f"\n{n} byte mutations refused in {time.perf_counter() - t0:.2f} s")


def test_field_mutations_load_or_raise_plan_format_error(base_files):
    rng = random.Random(5678)
    t0 = time.perf_counter()
    counts = {"ok": 0, "refused": 0}
    for blob in base_files:
        header, data = unpack(blob)
        text, paths = json.dumps(header), _paths(header)
        for _ in range(FIELD_CASES):
            h, path = _field_mutation(rng, text, paths)
            try:
                counts[_outcome(pack(h, data))] += 1
            except Exception:
                pytest.fail(f"editing {path!r} raised something else than PlanFormatError:\n"
                            f"{traceback.format_exc()}")
    print(f"\n{sum(counts.values())} field mutations ({counts['ok']} still valid, {counts['refused']} "
          f"refused) in {time.perf_counter() - t0:.2f} s")
    assert counts["refused"] > counts["ok"] > 0


# ---- structural fuzzing (issue 15): mutations of the decoded description, run in a child process --------

STRUCTURAL_CASES = 150   # per base file


def _optimized_file(path, traced, args, arg_names, output_names):
    """The traced function's optimized graph (fused nodes included) saved with a test vector."""
    c = traced._last
    plan = traced.plan
    states = [s.numpy() for s in c.states]
    names = [f"s{i}" for i in range(len(states))]
    ins = [a.numpy() for a in args]
    tv = planfile.make_test_vector(plan.graph, ins, states, plan=plan)
    planfile.save(plan.graph, path, arg_names=arg_names, output_names=output_names, state_names=names,
                  state_arrays=states, test_vector=tv)
    return path


def test_structural_mutations_never_crash_and_raise_only_plan_format_errors(tmp_path):
    """Node kinds, fused subgraphs (outputs of other shapes, rewired operands), shapes, updates, attributes and
    signatures mutated; each file loaded with verify=True, which runs the plan (its fused groups as generated C
    loops) on the test vector. A crash of the child process (the heap overflow of item 1) fails the test."""
    predict, x = mlp_predict()
    predict(x)
    step, _, batches = mlp_step(optimizer="sgd")
    step(*batches[0])
    files = [_optimized_file(tmp_path / "predict_opt.gcplan", predict, [x], ["x"], ["y"]),
             _optimized_file(tmp_path / "step_opt.gcplan", step, list(batches[1]), ["x", "label"],
                             ["loss", "logits"])]
    dump_trace(step, tmp_path / "step.gcplan", optimize_for_inference=False)
    files.append(tmp_path / "step.gcplan")
    support = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "support")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([support, os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.join(support, "plan_fuzz.py"), "2468", str(STRUCTURAL_CASES),
                        *map(str, files)], capture_output=True, text=True, env=env, timeout=300)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0:
        what = "crashed" if r.returncode < 0 else "let something else than PlanFormatError escape"
        pytest.fail(f"the fuzzer {what} (status {r.returncode}) at: {lines[-1] if lines else '?'}\n"
                    f"{r.stdout[-3000:]}{r.stderr[-2000:]}")
    counts = json.loads(lines[-1])
    print(f"\n{sum(counts.values())} structural mutations ({counts['ok']} still valid, {counts['refused']} "
          f"refused) in {time.perf_counter() - t0:.2f} s")
    assert counts["refused"] > counts["ok"] > 0
