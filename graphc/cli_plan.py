"""The plan-file commands of the graphc CLI: `graphc run PLAN --input x=x.npy ...` and `graphc info PLAN`.

`add_plan_commands(subparsers)` registers both on an argparse subparsers object; each command's handler
is stored as `func` and returns the exit status (0, or 1 with one line on stderr for a refused file or
bad input). Arrays are read and written without pickle.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .ir.errors import GraphcError
from .runtime import planfile
from .saved_plan import load


def add_plan_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register the `run` and `info` subcommands."""
    p = subparsers.add_parser("run", help="run a saved plan on inputs read from .npy files",
                              description="Run a saved plan. Inputs are NAME=FILE.npy (or FILE.npy in the "
                                          "plan's input order); .npz files give the array of that name.")
    p.add_argument("plan", help="the plan file")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE",
                   help="an input array (.npy, or .npz holding it by name)")
    p.add_argument("--output", "-o", metavar="OUT.npz", help="write the outputs to this .npz file")
    p.add_argument("--device", choices=planfile.DEVICES, help="where to run (default: where it was saved)")
    p.add_argument("--verify", action="store_true", help="check the plan against its test vector first")
    p.add_argument("--save", metavar="PLAN", help="write the plan with its updated state (training steps)")
    p.add_argument("--max-memory", metavar="SIZE", type=_size,
                   help="refuse a plan whose run would hold more than SIZE bytes (suffixes K, M, G; default 4G)")
    p.set_defaults(func=run_command)
    q = subparsers.add_parser("info", help="describe a saved plan: signature, ops, sizes, versions")
    q.add_argument("plan", help="the plan file")
    q.add_argument("--json", action="store_true", help="print the description as JSON")
    q.add_argument("--graphml", metavar="OUT.graphml",
                   help="also write the saved graph as GraphML (data and operator nodes), for graph tools")
    q.set_defaults(func=info_command)


def run_command(args: argparse.Namespace) -> int:
    """`graphc run`: load the plan, feed it the input files, print (and save) its outputs."""
    try:
        plan = load(args.plan, device=args.device, verify=args.verify, max_memory=args.max_memory)
        feeds = _read_inputs(args.input, [s.name for s in plan.inputs])
        results = plan.run(**feeds)
        for name, a in results.items():
            print(f"{name}: {_summary(a)}")
        if args.output:
            np.savez(args.output, **results)
            print(f"wrote {len(results)} output{'s' if len(results) != 1 else ''} to {args.output}")
        if args.save:
            plan.save(args.save)
            state = " with its updated state" if plan.is_training_step else ""
            print(f"wrote the plan{state} to {args.save}")
    except (GraphcError, OSError, ValueError, MemoryError) as e:
        return _fail(e)
    return 0


def info_command(args: argparse.Namespace) -> int:
    """`graphc info`: check the plan and describe it (nothing is compiled or run)."""
    try:
        pf = planfile.read(args.plan)
    except GraphcError as e:
        return _fail(e)
    d = planfile.describe(pf)
    if args.graphml:
        import networkx  # 0.2 s to import; only this option needs it
        try:
            networkx.write_graphml(pf.graph.to_networkx(), args.graphml)
        except OSError as e:
            return _fail(e)
    if args.json:
        print(json.dumps(d, indent=2, sort_keys=True))
        return 0
    s = d["sizes"]
    print(f"plan file {args.plan}: {_bytes(s['file'])} (description {_bytes(s['description'])}, "
          f"constants {_bytes(s['constants'])}, state {_bytes(s['state'])})")
    same = "this graphc's" if d["opset_matches"] else f"this graphc has {planfile.opset_fingerprint()}"
    when = f" at {_shown(d['metadata']['created'])}" if "created" in d["metadata"] else ""
    print(f"format version {d['format_version']}, op set {d['opset']} ({same}), written by graphc "
          f"{_shown(d['metadata'].get('graphc_version', '?'))}{when}")
    kind = f"training step ({d['updates']} state updates per call)" if d["updates"] else "inference"
    print(f"{kind}; saved on {d['device']}, optimization level {d['opt_level']}; "
          f"test vector: {'yes' if d['test_vector'] else 'no'}")
    for title in ("inputs", "outputs", "states"):
        print(f"{title}:" + ("" if d[title] else " none"))
        for e in d[title]:
            grad = f" (gradient of {e['of']})" if e.get("of") else ""
            print(f"  {e['name']}: {e['dtype']}{e['shape']}{grad}")
    roles = ", ".join(f"{k} {v}" for k, v in d["roles"].items())
    print(f"ops: {d['nodes']} nodes ({roles})")
    print("  " + ", ".join(f"{k} {v}" for k, v in d["ops"].items()))
    meta = {k: v for k, v in d["metadata"].items() if k not in ("graphc_version", "created")}
    if meta:
        print("metadata:")
        for k, v in sorted(meta.items()):
            print(f"  {_shown(k)}: {json.dumps(v)}")     # json.dumps escapes what it prints
    return 0


def _read_inputs(specs: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """NAME=FILE arguments, then FILE ones for the remaining inputs in order, as arrays by input name."""
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name in names:
            if name in named:
                raise ValueError(f"input {name!r} given twice")
            named[name] = path
        else:
            unnamed.append(spec)
    rest = [n for n in names if n not in named]
    if len(unnamed) > len(rest):
        raise ValueError(f"more input files than the plan's {len(names)} inputs ({', '.join(names)})")
    named.update(zip(rest, unnamed, strict=False))   # fewer files than inputs: reported as missing
    return {n: _read_array(p, n) for n, p in named.items()}


def _read_array(path: str, name: str) -> np.ndarray:
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if name in data.files:
                return data[name]
            if len(data.files) == 1:
                return data[data.files[0]]
            raise ValueError(f"{path} holds {', '.join(data.files)}, none named {name!r}")
    return data


def _size(text: str) -> int:
    """A byte count such as 512M or 8G (argparse type of --max-memory)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = units.get(t[-1:], 1)
    try:
        n = float(t[:-1] if t[-1:] in units else t) * scale
    except ValueError:
        n = -1.0
    if not n >= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 512M or 8G)")
    return int(n)


def _summary(a: np.ndarray) -> str:
    head = f"{a.dtype}{list(a.shape)}"
    if a.size <= 8:
        return f"{head} = {np.array2string(a, precision=6, separator=', ')}"
    if a.dtype.kind in "fiu":
        return (f"{head} min {a.min():.6g} max {a.max():.6g} mean {a.mean(dtype=np.float64):.6g}")
    return f"{head} {int(np.count_nonzero(a))} true"


def _shown(x: object) -> str:
    """Text from a plan file as printed: characters that are not printable (terminal escapes) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(x))


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _fail(e: Exception) -> int:
    msg = str(e) if isinstance(e, GraphcError) else f"out of memory: {e}" if isinstance(e, MemoryError) \
        else f"{type(e).__name__}: {e}"
    print(f"graphc: error: {msg}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point with just these commands (`python -m graphc.cli_plan info PLAN`)."""
    parser = argparse.ArgumentParser(prog="graphc")
    add_plan_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
