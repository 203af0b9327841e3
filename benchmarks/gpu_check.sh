#!/usr/bin/env bash
# One-shot check of GPU training on a machine with a CUDA GPU (issue: paper-scale training).
# Needs only a python3 with torch (and numpy, threadpoolctl, pytest) there; nninfo runs from
# this checkout. Prints the GPU tests' result and the training benchmark's tables, and keeps
# both logs in $OUT (default /tmp/nninfo_gpu_check). About 5 minutes on one H200.
#
#   bash benchmarks/gpu_check.sh            # tests, then the benchmark on CUDA
#   NO_COMPILE=1 bash benchmarks/gpu_check.sh   # without the torch.compile rows (faster)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/nninfo_gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'device', torch.cuda.get_device_name(0))" || exit 1

# --noconftest: the suite's conftest needs MLflow, which these tests do not
"$PY" -m pytest -q -p no:cacheprovider --noconftest tests/test_gpu_training.py \
    tests/test_private_torch.py 2>&1 | tee "$OUT/gpu_tests.log"
tests=${PIPESTATUS[0]}

timeout 420 "$PY" benchmarks/bench_training.py --device cuda --seeds 1 5 10 20 \
    --steps 2814 --repeats 2 \
    ${NO_COMPILE:+--no-compile} 2>&1 | tee "$OUT/bench_training.txt"
bench=${PIPESTATUS[0]}

echo "gpu tests exit $tests, benchmark exit $bench"
exit $(( tests || bench ))
