#!/usr/bin/env bash
# One-shot check of GPU training on a machine with a CUDA GPU (issue: paper-scale training).
# Needs only a python3 with torch (and numpy, threadpoolctl, pytest) there; nninfo runs from
# this checkout. Prints the GPU tests' result and the training benchmark's tables, and keeps
# both logs in $OUT (default /tmp/nninfo_gpu_check). At most 9 minutes: the tests stop
# after 200 s, the benchmark (largest group first, rows printed as measured) after 330 s.
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
timeout 200 "$PY" -m pytest -q -p no:cacheprovider --noconftest tests/test_gpu_training.py \
    tests/test_compiled_training.py tests/test_private_torch.py 2>&1 | tee "$OUT/gpu_tests.log"
tests=${PIPESTATUS[0]}

timeout 330 "$PY" benchmarks/bench_training.py --device cuda --seeds 20 10 5 1 \
    --steps 1876 --repeats 1 \
    ${NO_COMPILE:+--no-compile} 2>&1 | tee "$OUT/bench_training.txt"
bench=${PIPESTATUS[0]}

echo "gpu tests exit $tests, benchmark exit $bench"
exit $(( tests || bench ))
