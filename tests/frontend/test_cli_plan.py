"""`graphc run` and `graphc info` on plan files (through cli_plan.main, and once as a subprocess)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from plan_helpers import mlp_predict, mlp_step, pack, unpack

from graphc.cli_plan import main
from graphc.runtime import planfile
from graphc.saved_plan import dump_trace, load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def plans(tmp_path):
    predict, x = mlp_predict()
    want = predict(x).numpy()
    dump_trace(predict, tmp_path / "predict.gcplan", output_names=["y"])
    step, _, batches = mlp_step(optimizer="sgd")
    step(*batches[0])
    dump_trace(step, tmp_path / "step.gcplan", optimize_for_inference=False, output_names=["loss", "logits"])
    np.save(tmp_path / "x.npy", x.numpy())
    np.save(tmp_path / "bx.npy", batches[1][0].numpy())
    np.savez(tmp_path / "batch.npz", label=batches[1][1].numpy())
    return tmp_path, want


def test_run_prints_and_writes_outputs(plans, capsys):
    d, want = plans
    out = d / "out.npz"
    args = ["run", str(d / "predict.gcplan"), "--input", f"x={d / 'x.npy'}", "-o", str(out), "--verify"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "y: float32[2, 3] =" in text and "wrote 1 output" in text
    with np.load(out, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["y"], want)


def test_run_a_training_step_and_save_its_state(plans, capsys):
    d, _ = plans
    args = ["run", str(d / "step.gcplan"), "-i", str(d / "bx.npy"), "-i", f"label={d / 'batch.npz'}",
            "--save", str(d / "next.gcplan")]
    assert main(args) == 0
    assert "loss: float32[] =" in capsys.readouterr().out
    before, after = load(d / "step.gcplan").state_dict(), load(d / "next.gcplan").state_dict()
    first = next(iter(before))                      # the first parameter, named as the step's code names it
    assert not np.array_equal(before[first].numpy(), after[first].numpy())


def test_run_reports_bad_inputs_and_files_in_one_line(plans, capsys):
    d, _ = plans
    assert main(["run", str(d / "predict.gcplan")]) == 1
    assert capsys.readouterr().err.strip() == "graphc: error: missing plan input x"
    np.save(d / "bad.npy", np.zeros((5, 5), "float32"))
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'bad.npy'}"]) == 1
    assert "must have shape (2, 4)" in capsys.readouterr().err
    (d / "junk.gcplan").write_bytes(b"\x89GCPLAN\n" + b"\0" * 10)
    assert main(["run", str(d / "junk.gcplan")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphc: error: the plan file is truncated") and err.count("\n") == 1
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'obj.npy'}"]) == 1
    assert "pickle" in capsys.readouterr().err.lower()


def test_info_shows_signature_ops_sizes_and_versions(plans, capsys):
    d, _ = plans
    assert main(["info", str(d / "step.gcplan")]) == 0
    text = capsys.readouterr().out
    for part in (f"format version {planfile.FORMAT_VERSION}", "this graphc's",
                 "training step (6 state updates per call)",
                 "x: float32[5, 4]", "label: int32[5]", "loss: float32[]", "matmul", "test vector: yes"):
        assert part in text, part
    assert main(["info", "--json", str(d / "predict.gcplan")]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert desc["inputs"][0]["name"] == "x" and desc["updates"] == 0 and desc["sizes"]["file"] > 0
    assert main(["info", str(d / "missing.gcplan")]) == 1


def test_info_exports_the_graph_as_graphml(plans, capsys):
    import networkx as nx
    d, _ = plans
    assert main(["info", "--graphml", str(d / "step.graphml"), str(d / "step.gcplan")]) == 0
    g = nx.read_graphml(d / "step.graphml")
    ops = [a["op"] for _, a in g.nodes(data=True) if a["kind"] == "op"]
    pf = load(d / "step.gcplan").graph
    assert sorted(ops) == sorted(n.op.name for n in pf.nodes)
    assert nx.is_directed_acyclic_graph(g)
    inputs = [a["label"] for _, a in g.nodes(data=True) if a["kind"] == "input"]
    assert "x" in inputs and "label" in inputs


def test_cli_as_a_subprocess(plans):
    d, _ = plans
    r = subprocess.run([sys.executable, "-m", "graphc.cli_plan", "info", str(d / "predict.gcplan")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "inference" in r.stdout, r.stderr


# ---- messages a newcomer meets ---------------------------------------------------------------------------
def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphc: error: "), err
    assert not re.search(r"\b\w+(Error|Exception):", err), err      # no Python exception class names
    return err.strip()


def test_an_npz_fills_every_input_it_holds_by_name(plans, capsys):
    d, _ = plans
    np.savez(d / "both.npz", label=np.load(d / "batch.npz")["label"], x=np.load(d / "bx.npy"))
    assert main(["run", str(d / "step.gcplan"), "-i", str(d / "both.npz")]) == 0
    assert "loss: float32[] =" in capsys.readouterr().out
    np.savez(d / "other.npz", a=np.zeros(2), b=np.zeros(2))
    assert main(["run", str(d / "step.gcplan"), "-i", str(d / "other.npz")]) == 1
    assert _err(capsys).endswith("other.npz holds a, b; none is an input of the plan (inputs: x, label)")


def test_an_unknown_input_name_lists_the_plans_inputs(plans, capsys):
    d, _ = plans
    assert main(["run", str(d / "predict.gcplan"), "-i", f"z={d / 'x.npy'}"]) == 1
    assert _err(capsys) == "graphc: error: the plan has no input 'z' (inputs: x)"


def test_missing_and_non_array_input_files_say_what_they_are(plans, capsys):
    d, _ = plans
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'nope.npy'}"]) == 1
    assert _err(capsys) == f"graphc: error: no input file {d / 'nope.npy'}"
    (d / "x.txt").write_text("1 2 3 4\n")
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'x.txt'}"]) == 1
    err = _err(capsys)
    assert "is not a .npy or .npz file" in err and "allow_pickle" not in err


def test_an_input_cast_to_the_plans_dtype_is_noted_once(plans, capsys):
    d, want = plans
    np.save(d / "x64.npy", np.load(d / "x.npy").astype(np.float64))
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'x64.npy'}"]) == 0
    err = capsys.readouterr().err
    assert err == "graphc: note: input 'x' is float64; cast to the plan's float32\n"
    np.save(d / "label64.npy", np.load(d / "batch.npz")["label"].astype(np.int64))
    assert main(["run", str(d / "step.gcplan"), "-i", str(d / "bx.npy"), "-i", f"label={d / 'label64.npy'}"]) == 0
    assert capsys.readouterr().err.count("note: input 'label' is int64; cast to the plan's int32") == 1


def test_errors_while_running_are_one_line(plans, capsys, monkeypatch):
    d, _ = plans
    np.save(d / "badlabel.npy", np.array([0, 1, 2, 7, 1], np.int32))
    assert main(["run", str(d / "step.gcplan"), "-i", str(d / "bx.npy"), "-i", f"label={d / 'badlabel.npy'}"]) == 1
    assert "gather: index 7 is out of bounds for axis 1 with size 3 (at " in _err(capsys)   # the op and the line

    def no_memory(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (2147483648,) and data type float32")
    monkeypatch.setattr("graphc.saved_plan.LoadedPlan.run", no_memory)
    assert main(["run", str(d / "predict.gcplan"), "-i", f"x={d / 'x.npy'}"]) == 1
    assert _err(capsys) == ("graphc: error: running the plan failed: out of memory (Unable to allocate 8.00 GiB "
                            "for an array with shape (2147483648,) and data type float32)")


def test_info_into_a_closed_pipe_exits_quietly(plans):
    d, _ = plans
    # The reader is gone before graphc writes (as `graphc info plan | head -0`): no traceback, SIGPIPE's status.
    p = subprocess.Popen([sys.executable, "-m", "graphc.cli", "info", str(d / "step.gcplan")], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=120) == 141 and err == b""


def test_version_and_help_with_examples(capsys):
    from graphc import __version__
    from graphc.cli import main as graphc
    with pytest.raises(SystemExit) as e:
        graphc(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"graphc {__version__}\n"
    with pytest.raises(SystemExit):
        graphc(["--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "graphc run step.gcplan -i x=x.npy" in text and "graphc render" in text


def test_info_escapes_what_it_prints_from_the_file(plans, capsys):
    """Issue 15 item 6: metadata keys and version strings are the file's; terminal escapes are printed escaped."""
    d, _ = plans
    header, data = unpack((d / "predict.gcplan").read_bytes())
    header["metadata"].update({"\x1b]0;owned\x07key": "\x1b[2J", "graphc_version": "1\x1b[31m"})
    (d / "meta.gcplan").write_bytes(pack(header, data))
    assert main(["info", str(d / "meta.gcplan")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "written by graphc 1\\x1b[31m" in out and "\\x1b]0;owned\\x07key" in out


def test_run_has_a_memory_limit_and_reports_running_out_in_one_line(plans, capsys, monkeypatch):
    """Issue 15 item 5: `graphc run --max-memory`, and a MemoryError while running is one line."""
    d, _ = plans
    x = ["-i", f"x={d / 'x.npy'}"]
    assert main(["run", str(d / "predict.gcplan"), *x, "--max-memory", "16"]) == 1
    assert "over the limit" in capsys.readouterr().err
    assert main(["run", str(d / "predict.gcplan"), *x, "--max-memory", "1.5G"]) == 0
    capsys.readouterr()

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (2147483648,) and data type float32")
    monkeypatch.setattr("graphc.saved_plan.LoadedPlan.run", out_of_memory)
    assert main(["run", str(d / "predict.gcplan"), *x]) == 1
    err = capsys.readouterr().err
    assert err == "graphc: error: running the plan failed: out of memory (Unable to allocate 8.00 GiB for an array " \
                  "with shape (2147483648,) and data type float32)\n"
    with pytest.raises(SystemExit):
        main(["run", str(d / "predict.gcplan"), *x, "--max-memory", "lots"])
