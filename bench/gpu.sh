#!/usr/bin/env bash
# bench/gpu.py on a lent GPU machine (bench/README.md, "A lent GPU"): the carried wheels into /tmp/site, then the
# run, its record ($OUT/cuda.json) and its log ($OUT/gpu.log) in $OUT. Extra arguments go to gpu.py.
set -uo pipefail
out="${OUT:-bench/out}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .carry/wheels/*.whl \
    || { echo "error: the wheels in .carry/wheels did not install (make gpu-carry, and carry .carry)"; exit 1; }
export PYTHONPATH="$PWD/src:/tmp/site" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,temperature.gpu --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
python3 bench/gpu.py --device cuda --data .carry/fashion-mnist --json "$out/cuda.json" "$@" 2>&1 | tee "$out/gpu.log"
