#!/usr/bin/env bash
# Every GPU test and the GPU benchmarks on a machine with a CUDA device, in under 4 minutes.
#   scripts/gpu-check.sh [RESULTS_DIR]      (default: $OUT if set, else ./gpu-results)
# Writes RESULTS_DIR/gpu-check.log, pytest's junit XML, bench_gpu.{json,md}, chain8_bandwidth.png
# and the generated source of the benchmark kernel. Each step has its own time limit; a failing step
# is reported and the script goes on to the next one. Exit status: 0 only if every step passed.
set -u
RESULTS="${1:-${OUT:-./gpu-results}}"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
LOG="$RESULTS/gpu-check.log"
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
export GRAPHC_GPU_STRICT=1
: > "$LOG"
FAILED=()
START=$(date +%s)

say() { echo "[gpu-check $(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }

step() {  # step NAME TIMEOUT_S COMMAND...
  local name="$1" limit="$2"; shift 2
  say "--- $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then say "--- $name: OK"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then say "--- $name: TIMED OUT after ${limit}s"; FAILED+=("$name(timeout)")
  else say "--- $name: FAILED (exit $rc)"; FAILED+=("$name(exit $rc)")
  fi
}

say "results in $RESULTS; python: $(command -v "$PY")"
# graphc is one package whose passes/ and runtime/ folders install as graphc.passes and graphc.runtime.
# Without an install (the device has no network for build dependencies), link that layout together.
if ! "$PY" -c "import graphc.runtime.plan" 2>/dev/null; then
  PKG="$RESULTS/.graphc-src"; rm -rf "$PKG"; mkdir -p "$PKG/graphc"
  for f in graphc/*; do ln -s "$PWD/$f" "$PKG/graphc/"; done
  ln -s "$PWD/passes" "$PKG/graphc/passes"; ln -s "$PWD/runtime" "$PKG/graphc/runtime"
  export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
  say "graphc is not installed: importing it from the source tree through $PKG"
fi
step device-info 30 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv; \
  $PY -c 'import cupy; d = cupy.cuda.runtime.getDeviceProperties(0); print(\"cupy\", cupy.__version__, d[\"name\"], \"sm_%d%d\" % (d[\"major\"], d[\"minor\"]), d[\"multiProcessorCount\"], \"SMs\")'"
step install-check 30 "$PY" -c "import graphc, graphc.runtime.gpu.kernels; print('graphc and graphc.runtime.gpu.kernels import')"
# Generated CUDA compiled for sm_90 with the machine's nvcc (the CPU-side test; cheap insurance
# that what the device compiles is what CI checked).
step codegen-nvcc 45 "$PY" -m pytest -q -x tests/runtime/gpu/test_cuda_codegen.py -k "representative or chain_f32 or half_and_double" \
  -p no:cacheprovider
step gpu-tests 150 "$PY" -m pytest -v -rs -m gpu tests/runtime/gpu/test_gpu.py tests/runtime/gpu/test_gpu_steps.py -p no:cacheprovider -s \
  --junitxml="$RESULTS/pytest-gpu.xml"
step dump-kernel 30 "$PY" -c "
import sys; sys.path.insert(0, 'tests/support')
from fused_builders import chain8, fused_node, F32, mse
from graphc.runtime.gpu.codegen import generate
for name, b, specs in (('chain8', chain8, [((1 << 26,), F32)]), ('mse', mse, [((1 << 26,), F32)] * 2)):
    for k in generate(fused_node(b, specs, name)):
        open('$RESULTS/' + k.name + '.cu', 'w').write(k.code); print('wrote', k.name, k.kind, 'vec', k.vec)
"
step bench-gpu 90 "$PY" bench/bench_gpu.py --out "$RESULTS"
# The front end on the GPU: foundation, trace and plan-file tests (tensors default to the GPU there).
step frontend-on-gpu 90 "$PY" -m pytest -q -x -p no:cacheprovider tests/frontend/test_tutorial.py \
  tests/frontend/test_trace.py tests/frontend/test_optimizers.py tests/runtime/planfile/test_planfile.py \
  tests/passes/test_memory.py
step bench-gpu-steps 45 bash -c "cd bench && $PY bench_gpu_steps.py '$RESULTS/bench_gpu_steps.json'"
# graphc.distributed on the GPU: NCCL with one rank, MPI on host buffers with two ranks sharing the GPU
# (needs mpich and mpi4py in the environment; skipped without them).
step nccl 120 "$PY" -m pytest -v -rs -m gpu tests/distributed/test_gpu_nccl.py -p no:cacheprovider

say "total $(( $(date +%s) - START ))s"
if [ ${#FAILED[@]} -eq 0 ]; then say "ALL STEPS PASSED"; exit 0; fi
say "FAILED STEPS: ${FAILED[*]}"
exit 1
