"""The `graphc` command: `graphc render PLANFILE -o out.svg`, plus the plan-file commands `run` and `info`.

Each subcommand registers itself on the subparsers object and stores its handler as `func`, which
returns the exit status (0, or 1 with one line on stderr).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__, viz
from .cli_plan import add_plan_commands, fail, quiet_broken_pipe
from .ir.errors import GraphcError
from .saved_plan import load
from .viz.scene import PARTS, build_scene
from .viz.source import resolve


def add_render_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `graphc render`."""
    p = subparsers.add_parser("render", help="draw a saved plan's graph (SVG, PNG, PDF or DOT)",
                              description="Draw a saved plan: data nodes and operator nodes, gradient and "
                                          "update parts in their own colours, fused kernels as clusters.")
    p.add_argument("plan", help="the plan file")
    p.add_argument("-o", "--output", help=f"the picture, format by suffix ({', '.join(viz.FORMATS)}); "
                                          "default: the plan file's name with .svg")
    p.add_argument("--part", choices=list(PARTS), default="all", help="which part to draw (default: all)")
    p.add_argument("--optimized", action="store_true",
                   help="draw the compiled plan (fused kernels as clusters) instead of the saved graph")
    p.add_argument("--expand-fused", action="store_true",
                   help="with --optimized: draw each fused kernel's ops (default: one box per kernel)")
    p.add_argument("--no-shapes", action="store_true", help="leave dtypes and shapes off the data nodes")
    fold = p.add_mutually_exclusive_group()
    fold.add_argument("--fold", action="store_true", default=None, help="fold repeated blocks (default: large graphs)")
    fold.add_argument("--no-fold", dest="fold", action="store_false", help="draw every operator")
    p.set_defaults(func=render_command)


def render_command(args: argparse.Namespace) -> int:
    """`graphc render`: load the plan file and write its picture."""
    out = Path(args.output) if args.output else Path(args.plan).with_suffix(".svg")
    try:
        loaded = load_plan_file(args.plan)
        obj = loaded.plan if args.optimized else loaded
        _check_part(obj, args.part, args.plan)
        viz.render(obj, out, part=args.part, shapes=not args.no_shapes, collapse_fused=not args.expand_fused,
                   fold=args.fold)
    except (GraphcError, OSError, ValueError) as e:
        return fail(e)
    print(f"wrote {out}")
    return 0


def _check_part(obj: object, part: str, path: str) -> None:
    """Refuse to write an empty picture: plans saved for inference have no gradient or update part."""
    if part != "all" and not build_scene(resolve(obj).graph, part, True).items:
        raise GraphcError(f"{path} has no {part} part to draw (a plan dumped with optimize_for_inference=True "
                          "keeps only the forward computation)")


def load_plan_file(path: str) -> object:
    """The loaded plan file (it has .plan and .graph), or a GraphcError saying why not."""
    if not Path(path).is_file():
        raise GraphcError(f"no plan file at {path}")
    return load(path)


EXAMPLES = """examples:
  graphc info step.gcplan                         signature, ops, sizes and versions of a plan file
  graphc run step.gcplan -i x=x.npy -i y=y.npy -o out.npz
  graphc run step.gcplan -i batch.npz --save next.gcplan
                                                  inputs by name from an .npz; keep the trained state
  graphc render step.gcplan -o step.svg --part gradient

`graphc COMMAND --help` describes a command. Plan files are written by a traced function's
.dump(path) (graphc.jit.trace) and loaded in Python with graphc.load(path)."""


def build_parser() -> argparse.ArgumentParser:
    """The `graphc` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="graphc", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="graphc: a static computation-graph compiler. These commands "
                                                 "work on saved plan files without the code that made them.")
    parser.add_argument("--version", action="version", version=f"graphc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_render_command(sub)
    add_plan_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `graphc` console script."""
    args = build_parser().parse_args(argv)
    return quiet_broken_pipe(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
