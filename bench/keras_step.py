#!/usr/bin/env python3
"""Keras' own speed on the step bench/flops.py measures as `asl`: the seed003 notebook's model and compile()
(bench/keras_reference.py), trained by fit() at batch 32 on random images already in memory, as training
images/s; beside it TensorFlow's own 2048 x 2048 x 2048 fp32 matmul, blocks interleaved, median of --repeats,
as bench/flops.py times torch. Needs TensorFlow, never a dependency of fmnist: run it from Keras' virtualenv
(bench/README.md). Appends to bench/results/cpu.json ("benchmark": "keras-step"), which docs/performance.md's
table of the CPU against its limit shows beside torch's `asl`.

    /tmp/keras-venv/bin/python bench/keras_step.py                           # about 2 minutes on 2 cores
    /tmp/keras-venv/bin/python bench/keras_step.py --quick --json /tmp/k.json   # smoke run
"""
import argparse
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import keras_reference as ref  # bench/, beside this script: the notebook's model, Keras and TensorFlow
from measure import append_result, interleaved, load_average  # bench/: what bench/flops.py uses too

keras, tf = ref.keras, ref.tf
ROOT = Path(__file__).resolve().parents[1]
BATCH, BLOCK_STEPS = 32, 100  # a block: one fit() over 100 batches, about 3 s on 2 cores
MATMUL_N, MATMUL_BLOCK = 2048, 3  # as bench/flops.py


def fit_block(steps: int):
    """A measure: training images/s of one fit() epoch of `steps` batches (fit()'s own start-up included: a
    Keras user pays it every epoch)."""
    rng = np.random.default_rng(0)
    x = rng.random((steps * BATCH, 28, 28, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, ref.NUM_CATEGORIES, steps * BATCH), ref.NUM_CATEGORIES)
    warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
    model = ref.CNN_FMNST_model()
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])  # the notebook's: RMSprop

    def measure() -> float:
        started = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
        return len(x) / (time.perf_counter() - started)
    return measure


def matmul_block(n: int = MATMUL_N, reps: int = MATMUL_BLOCK):
    """A measure: GFLOP/s of `reps` n x n x n fp32 products in TensorFlow (random operands)."""
    generator = tf.random.Generator.from_seed(0)
    a, b = generator.normal((n, n)), generator.normal((n, n))

    def measure() -> float:
        started = time.perf_counter()
        for _ in range(reps):
            out = tf.linalg.matmul(a, b)
        out.numpy()  # eager ops on the CPU are done when they return; this makes sure
        return 2 * n**3 * reps / (time.perf_counter() - started) / 1e9
    return measure


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="rounds of blocks (median)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5-batch blocks, 1 round")
    parser.add_argument("--json", type=Path, help="append the result here (default: bench/results/cpu.json; "
                        "a --quick run is only written where --json says)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    repeats, steps = (1, 5) if args.quick else (args.repeats, BLOCK_STEPS)
    keras.utils.set_random_seed(0)
    load_before = load_average()
    timed = interleaved({"matmul": matmul_block(), "asl": fit_block(steps)}, repeats)
    peak, asl = timed["matmul"], timed["asl"]
    result = {
        "benchmark": "keras-step", "device": "cpu", "quick": args.quick,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "keras": keras.__version__, "tensorflow": tf.__version__, "backend": keras.backend.backend(),
        "machine": {**ref.cpu_device(), "load_before": load_before, "load_after": load_average(),
                    "tf_threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                                   tf.config.threading.get_inter_op_parallelism_threads()]},  # 0: TensorFlow's choice
        "settings": {"repeats": repeats, "batch_size": BATCH, "block_steps": steps, "matmul_n": MATMUL_N,
                     "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS")}},
        "peak": {"what": f"{MATMUL_N}x{MATMUL_N}x{MATMUL_N} fp32 matmul (TensorFlow)", "gflop_s": peak["img_s"],
                 "runs": peak["runs"]},
        "models": {"asl": {"experiment": "seed003-unit-onehot", "what": "the notebook's model, compile() and fit()",
                           "img_s": asl["img_s"], "runs": asl["runs"]}},
    }
    print(f"Keras {keras.__version__} on TensorFlow {tf.__version__}: asl fit() at batch {BATCH} "
          f"{asl['img_s']:,.0f} images/s; {result['peak']['what']} {peak['img_s']:.0f} GFLOP/s "
          f"(median of {repeats}; load {load_before} -> {result['machine']['load_after']})")
    path = args.json or (None if args.quick else ROOT / "bench" / "results" / "cpu.json")
    if path is not None:
        append_result(result, path)
        print(f"appended to {path}")
    return result


if __name__ == "__main__":
    main()
