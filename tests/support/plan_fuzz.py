"""The structural plan-file fuzzer: mutations of a file's decoded description (node kinds, fused subgraphs,
shapes, updates, attributes, the signature) that keep the JSON well formed and its checksum right, so they
reach the loader's checks and, when those pass, the compiled kernels (load(verify=True) runs the test vector).

Run in a child process (`python plan_fuzz.py SEED CASES FILE...`), so that a crash is seen as one: each case
prints one line before it runs; the last line is a JSON summary. Anything but PlanFormatError escaping
load() ends the run with status 3.
"""
from __future__ import annotations

import copy
import io
import json
import random
import sys
import traceback

from plan_helpers import pack, unpack

from graphc import PlanFormatError
from graphc.config import config
from graphc.ir import REGISTRY
from graphc.saved_plan import load

SHAPES = [[], [1], [2], [3], [1 << 16], [1 << 31], [4, 1], [2, 3], [1, 3], [0]]
OPS = sorted(REGISTRY)


def _graphs(h: dict) -> list[dict]:
    """The top-level graph and every fused subgraph of a description."""
    out = [h["graph"]]
    for n in h["graph"]["nodes"]:
        sub = n["attrs"].get("subgraph")
        if isinstance(sub, dict) and "g" in sub:
            out.append(sub["g"])
    return out


def _values(g: dict) -> list[dict]:
    """A graph's value entries in id order: inputs, constants, then each node's outputs."""
    return g["inputs"] + g["consts"] + [o for n in g["nodes"] for o in n["out"]]


def _declare(h: dict, op: str) -> None:
    h["opset"]["ops"] = sorted(set(h["opset"]["ops"]) | {op})


def _add_output(h: dict, node: dict, out: dict) -> None:
    """Give a top-level node one more output, renumbering the references to the values defined after it."""
    g = h["graph"]
    new = len(g["inputs"]) + len(g["consts"])
    for n in g["nodes"]:
        new += len(n["out"])
        if n is node:
            break

    def shift(i):
        return i + 1 if isinstance(i, int) and i >= new else i
    node["out"].append(out)
    for n in g["nodes"]:
        n["in"] = [shift(i) for i in n["in"]]
    g["outputs"] = [shift(i) for i in g["outputs"]]
    g["updates"] = [[shift(a), shift(b)] for a, b in g["updates"]]


def _fused(h: dict) -> list[dict]:
    return [n for n in h["graph"]["nodes"] if n["op"] == "fused" and isinstance(n["attrs"].get("subgraph"), dict)
            and "g" in n["attrs"]["subgraph"]]


def mutate(rng: random.Random, h: dict) -> str:
    """Apply one structural mutation to `h` in place; returns what it did."""
    graphs = _graphs(h)
    g = rng.choice(graphs)
    kind = rng.randrange(9)
    if kind == 0 and g["nodes"]:                                    # node kind
        n = rng.choice(g["nodes"])
        n["op"] = rng.choice(OPS + ["fused"] * 4)
        _declare(h, n["op"])
        return f"node kind -> {n['op']}"
    if kind == 1:                                                   # a value's shape (and its twin in the signature)
        vals = _values(g)
        v = rng.choice(vals)
        v["shape"] = copy.deepcopy(rng.choice(SHAPES))
        if g is h["graph"] and vals.index(v) < len(g["inputs"]) and rng.random() < 0.7:
            sig = h["signature"]["inputs"] + h["signature"]["states"]
            sig[vals.index(v)]["shape"] = v["shape"]
        return f"value shape -> {v['shape']}"
    if kind == 2 and _fused(h):                                     # a fused group with an extra output
        node = rng.choice(_fused(h))
        sub = node["attrs"]["subgraph"]["g"]
        vals = _values(sub)
        operand = rng.randrange(len(vals))
        shape = list(vals[operand]["shape"])
        op = rng.choice(["neg", "exp", "tanh", "abs", "sum"])
        attrs = {}
        if op == "sum":
            attrs, shape = ({"axis": {"t": [0]}, "keepdims": False}, shape[1:]) if shape else ({}, shape)
        if rng.random() < 0.2:
            shape = copy.deepcopy(rng.choice(SHAPES))
        sub["nodes"].append({"op": op, "attrs": attrs, "in": [operand], "loc": None, "role": "forward",
                             "out": [{"shape": shape, "dtype": vals[operand]["dtype"], "name": None}]})
        sub["outputs"].append(len(vals))
        _add_output(h, node, {"shape": shape, "dtype": vals[operand]["dtype"], "name": None})
        _declare(h, op)
        return f"fused group gains a {op} output of shape {shape}"
    if kind == 3 and _fused(h):                                     # a fused group's outputs rewired
        sub = rng.choice(_fused(h))["attrs"]["subgraph"]["g"]
        n_vals = len(_values(sub))
        choice = rng.randrange(3)
        if choice == 0:
            sub["outputs"] = [rng.randrange(n_vals) for _ in sub["outputs"]]
        elif choice == 1:
            sub["outputs"] = sub["outputs"][:1] * len(sub["outputs"])
        else:
            n = rng.choice(sub["nodes"])
            n["in"] = [rng.randrange(n_vals) for _ in n["in"]]
        return f"fused outputs/inputs rewired ({choice})"
    if kind == 4:                                                   # updates
        ups = h["graph"]["updates"]
        n_vals, n_in = len(_values(h["graph"])), len(h["graph"]["inputs"])
        if ups and rng.random() < 0.6:
            u = rng.choice(ups)
            u[rng.randrange(2)] = rng.randrange(n_in if rng.random() < 0.5 else n_vals)
        else:
            ups.append([rng.randrange(n_in), rng.randrange(n_vals)])
        return "updates edited"
    if kind == 5:                                                   # attributes
        nodes = [n for n in g["nodes"] if n["attrs"]] or g["nodes"]
        if not nodes:
            return "nothing"
        n = rng.choice(nodes)
        key = rng.choice(list(n["attrs"]) + ["out", "axis"])
        n["attrs"][key] = copy.deepcopy(rng.choice([{"l": [0]}, {"t": [0]}, {"t": [5]}, {"t": [1, 0]}, None, 1,
                                                    True, {"f": 0.5}, "int64", "float32", {"t": [{"t": [0, 1]}]},
                                                    {"t": [-1]}, {"t": [1 << 40]}]))
        return f"attribute {key!r} of {n['op']}"
    if kind == 6 and g["nodes"]:                                    # a node's operands
        n = rng.choice(g["nodes"])
        i = g["nodes"].index(n)
        n_before = len(g["inputs"]) + len(g["consts"]) + sum(len(m["out"]) for m in g["nodes"][:i])
        n["in"] = [rng.randrange(max(n_before, 1)) for _ in range(rng.choice([len(n["in"]), 1, 2, 3]))]
        return f"operands of {n['op']}"
    if kind == 7 and g["nodes"]:                                    # a node's result type
        o = rng.choice(rng.choice(g["nodes"])["out"])
        o["dtype"] = rng.choice(["float64", "int32", "bool", "float16", "uint8"])
        return "result dtype"
    sig = h["signature"]                                            # the signature
    entries = sig["inputs"] + sig["outputs"] + sig["states"]
    if entries:
        e = rng.choice(entries)
        field = rng.choice(["shape", "dtype", "name"])
        e[field] = {"shape": [1], "dtype": "float64", "name": "x"}[field]
    return "signature entry"


def main(argv: list[str]) -> int:
    """Run CASES mutations of each FILE from SEED; print one line per case and a JSON summary."""
    seed, cases, files = int(argv[0]), int(argv[1]), argv[2:]
    config.inline_max = 0            # fused groups run as generated loops (C, else chunked NumPy)
    rng = random.Random(seed)
    counts = {"ok": 0, "refused": 0}
    for path in files:
        header, data = unpack(open(path, "rb").read())
        text = json.dumps(header)
        for i in range(cases):
            h = json.loads(text)
            done = []
            for _ in range(rng.choice([1, 1, 2])):
                try:
                    done.append(mutate(rng, h))
                except (KeyError, TypeError, IndexError, ValueError):   # an earlier mutation broke what it edits
                    done.append("skipped")
            what = "; ".join(done)
            print(f"{path} case {i}: {what}", flush=True)
            try:
                load(io.BytesIO(pack(h, data)), verify=True)
                counts["ok"] += 1
            except PlanFormatError as e:
                if "\n" in str(e):
                    print(f"ESCAPED a refusal of several lines: {e!r}", flush=True)
                    return 3
                counts["refused"] += 1
            except BaseException:
                print("ESCAPED " + traceback.format_exc(), flush=True)
                return 3
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
