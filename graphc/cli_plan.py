"""The plan-file commands of the graphc CLI: `graphc run PLAN --input x=x.npy ...` and `graphc info PLAN`.

`add_plan_commands(subparsers)` registers both on an argparse subparsers object; each command's handler
is stored as `func` and returns the exit status (0, or 1 with one line on stderr for a refused file or
bad input). Arrays are read and written without pickle.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

import numpy as np

from .ir.errors import GraphcError
from .runtime import planfile
from .saved_plan import load


def add_plan_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register the `run` and `info` subcommands."""
    p = subparsers.add_parser("run", help="run a saved plan on inputs read from .npy or .npz files",
                              description="Run a saved plan. An input is NAME=FILE.npy, or FILE.npy for the "
                                          "next input in the plan's order; FILE.npz fills every input it holds "
                                          "by name (NAME=FILE.npz: the array of that name, or its only one). "
                                          "An array of another dtype is cast to the plan's, with a note.")
    p.add_argument("plan", help="the plan file")
    p.add_argument("--input", "-i", action="append", default=[], metavar="[NAME=]FILE",
                   help="input arrays: NAME=FILE.npy, FILE.npy (next input in order) or FILE.npz (by name)")
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
        feeds = _cast_inputs(_read_inputs(args.input, [s.name for s in plan.inputs]), plan.inputs)
        try:
            results = plan.run(**feeds)
        except GraphcError:
            raise
        except Exception as e:   # IndexError, MemoryError, ...: one line, as every other refusal
            raise GraphcError(f"running the plan failed: {message(e)}") from e
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
        return fail(e)
    return 0


def info_command(args: argparse.Namespace) -> int:
    """`graphc info`: check the plan and describe it (nothing is compiled or run)."""
    try:
        pf = planfile.read(args.plan)
    except GraphcError as e:
        return fail(e)
    d = planfile.describe(pf)
    if args.graphml:
        import networkx  # 0.2 s to import; only this option needs it
        try:
            networkx.write_graphml(pf.graph.to_networkx(), args.graphml)
        except OSError as e:
            return fail(e)
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
            print(f"  {e['name']}: {e['dtype']}[{', '.join(map(str, e['shape']))}]{grad}")
    if d["free_sizes"]:
        print(f"free sizes: {', '.join(d['free_sizes'])} (any size; inputs sharing a name must agree)")
        for g in d["guards"]:
            print(f"  relies on {g}")
    roles = ", ".join(f"{k} {v}" for k, v in d["roles"].items())
    print(f"ops: {d['nodes']} nodes ({roles})")
    print("  " + ", ".join(f"{k} {v}" for k, v in d["ops"].items()))
    if d["group_size"]:
        n = d["group_size"]
        print(f"collectives: runs on {n} process{'es' if n > 1 else ''} together (mpiexec -n {n}), each calling "
              "graphc.distributed.init_process_group() before the plan")
    meta = {k: v for k, v in d["metadata"].items() if k not in ("graphc_version", "created")}
    if meta:
        print("metadata:")
        for k, v in sorted(meta.items()):
            print(f"  {_shown(k)}: {json.dumps(v)}")     # json.dumps escapes what it prints
    return 0


def _read_inputs(specs: list[str], names: list[str]) -> dict[str, np.ndarray]:
    """Arrays by input name from NAME=FILE, FILE.npz (every input it holds) and FILE (the next input) arguments."""
    feeds: dict[str, np.ndarray] = {}
    files: list[str] = []

    def give(name: str, a: np.ndarray) -> None:
        if name in feeds:
            raise GraphcError(f"input {name!r} given twice")
        feeds[name] = a

    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and (name in names or (name.isidentifier() and not os.path.exists(spec))):
            if name not in names:
                raise GraphcError(f"the plan has no input {name!r} (inputs: {', '.join(names)})")
            give(name, _one_array(path, name))
        elif _is_npz(spec):
            with _load(spec) as z:
                held = [n for n in names if n in z.files]
                if not held and len(z.files) != 1:
                    raise GraphcError(f"{spec} holds {', '.join(z.files) or 'no arrays'}; none is an input of the "
                                      f"plan (inputs: {', '.join(names)})")
                if not held:
                    files.append(spec)
                for n in held:
                    give(n, z[n])
        else:
            files.append(spec)
    rest = [n for n in names if n not in feeds]
    if len(files) > len(rest):
        raise GraphcError(f"more input files than the plan's {len(names)} inputs ({', '.join(names)})")
    for n, path in zip(rest, files):   # fewer files than inputs: reported as missing by the plan
        feeds[n] = _one_array(path, n)
    return feeds


def _one_array(path: str, name: str) -> np.ndarray:
    """The array of a .npy file, or of a .npz file: the one named `name`, or its only one."""
    data = _load(path)
    if isinstance(data, np.ndarray):
        return data
    with data:
        if name in data.files:
            return data[name]
        if len(data.files) == 1:
            return data[data.files[0]]
        raise GraphcError(f"{path} holds {', '.join(data.files)}, none named {name!r}")


def _is_npz(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _load(path: str):
    """np.load without pickle, refusing anything but .npy and .npz files in one sentence."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise GraphcError(f"no input file {path}") from None
    except OSError as e:
        raise GraphcError(f"cannot read the input file {path}: {e.strerror or e}") from None
    if magic != b"\x93NUMPY" and magic[:4] != b"PK\x03\x04":
        raise GraphcError(f"{path} is not a .npy or .npz file (save arrays with numpy.save or numpy.savez)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise GraphcError(f"{path} holds Python objects (pickled data), which graphc never loads; save "
                              "plain numeric arrays") from None
        raise GraphcError(f"{path} is not a readable .npy or .npz file: {e}") from None


def _cast_inputs(feeds: dict[str, np.ndarray], specs) -> dict[str, np.ndarray]:
    """Arrays cast to the plan's input dtypes where NumPy casts within a kind (int64 -> float32), with a note
    for each; other dtypes are left for the plan to refuse."""
    for spec in specs:
        a = feeds.get(spec.name)
        if a is not None and a.dtype != spec.dtype and np.can_cast(a.dtype, spec.dtype, "same_kind"):
            print(f"graphc: note: input {spec.name!r} is {a.dtype}; cast to the plan's {spec.dtype}", file=sys.stderr)
            feeds[spec.name] = a.astype(spec.dtype)
    return feeds


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


def message(e: BaseException) -> str:
    """An exception as one line for the terminal, without Python's class-name prefix."""
    if isinstance(e, MemoryError):
        return "out of memory" + (f" ({e})" if str(e) else "")
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def fail(e: BaseException) -> int:
    """Print `graphc: error: <one line>` on stderr; the exit status 1."""
    print(f"graphc: error: {message(e)}", file=sys.stderr)
    return 1


def quiet_broken_pipe(run: Callable[[], int]) -> int:
    """Run a command whose reader may stop early (`graphc info plan | head`): no traceback, status 141 as for
    a program a shell ends with SIGPIPE."""
    try:
        status = run()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python would flush stdout again at exit and fail the same way: point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point with just these commands (`python -m graphc.cli_plan info PLAN`)."""
    parser = argparse.ArgumentParser(prog="graphc")
    add_plan_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return quiet_broken_pipe(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
