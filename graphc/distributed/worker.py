"""A launcher's worker: `python -m graphc.distributed.worker`, started by mpiexec with the call in the
environment, joins the process group, runs the function with its arguments, and gathers every rank's result
to rank 0, which writes them where the launcher reads them (a rank that fails leaves why, where it can)."""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable

from .group import allgather_bytes, failure_message, get_rank, init_process_group
from .launcher import SPEC_VARIABLE, encode_result, launcher, write_error, write_result


def load_function(spec: dict) -> Callable:
    """The function a call spec names: imported by module name, or from its file for a script (as
    multiprocessing's spawn does: the module runs as __mp_main__, so its `__main__` block does not)."""
    module = None
    if spec["module"] != "__main__":
        try:
            module = importlib.import_module(spec["module"])
        except ImportError:
            module = None
    if module is None:
        path = spec["file"]
        sys.path.insert(0, os.path.dirname(path))
        loader = importlib.util.spec_from_file_location("__mp_main__", path)
        module = importlib.util.module_from_spec(loader)
        sys.modules["__mp_main__"] = module
        loader.loader.exec_module(module)
    obj = module
    for part in spec["qualname"].split("."):
        obj = getattr(obj, part)
    return obj.func if isinstance(obj, launcher) else obj


def main() -> None:
    """Run one rank of a launcher's call."""
    spec = json.loads(os.environ[SPEC_VARIABLE])
    d = spec["dir"]
    rank = int(os.environ.get("PMI_RANK", "0"))
    try:
        init_process_group(backend=spec["backend"], device_type=spec["device_type"], timeout=spec["timeout"])
        rank = get_rank()
        blob = encode_result(rank, load_function(spec)(*spec["args"], **spec["kwargs"]))
        blobs = allgather_bytes(blob, "the launcher's results")
        if rank == 0 and os.path.isdir(d):
            for r, b in enumerate(blobs):
                write_result(d, r, b)
    except BaseException as e:
        write_error(d, rank, failure_message(e))
        raise


if __name__ == "__main__":
    main()
