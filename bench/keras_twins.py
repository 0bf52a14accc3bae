#!/usr/bin/env python3
"""Twin runs: the port and Keras each left to themselves from the same start, on the same batches with the
same dropout masks, epoch after epoch.

bench/keras_lockstep.py compares single steps from a shared state, so it cannot see an effect that only
builds up over many steps. Here the port takes Keras' initial weights once; then both train on their own for
--epochs epochs, every step on the same 32 images (a permutation per epoch drawn here) with the same masks in
both frameworks' dropout layers. Their weights part within a few steps (rounding, magnified by RMSprop), so
what is compared is what a run reports: the training loss and accuracy over each epoch's batches and the
validation accuracy after it. With initial weights, batch order and masks shared, what is left to differ is
the arithmetic alone, including what the single-step comparison leaves out.

Runs in the Keras virtualenv with torch and fmnist beside it (bench/README.md):

    python bench/keras_twins.py IDX_DIR --variant unit-onehot --epochs 6

writes bench/results/lockstep/<variant>-twins-seed<N>.json after every epoch.
"""
import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras_lockstep as lockstep  # noqa: E402  (bench/: the masked models and the state transfer)
import torch  # noqa: E402

ref, keras = lockstep.ref, lockstep.keras


def port_accuracy(net, x: np.ndarray, y: np.ndarray, batch: int = 2000) -> float:
    net.eval()
    with torch.no_grad():
        hits = sum(int((net(lockstep.nchw(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch].argmax(1)).sum())
                   for i in range(0, len(x), batch))
    return hits / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("idx_dir", type=Path)
    p.add_argument("--variant", choices=[v for v in ref.VARIANTS if v.endswith("onehot")], default="unit-onehot")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--limit", type=int, default=None, help="only the first N training images: smoke runs")
    p.add_argument("--val-size", type=int, default=12000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=lockstep.DEFAULT_OUT)
    args = p.parse_args()

    keras.utils.set_random_seed(args.seed)
    ref.tf.config.experimental.enable_op_determinism()
    torch.manual_seed(args.seed)
    (train, val, _), md5 = ref.load_data(args.idx_dir, args.variant, args.val_size, args.limit)
    model = lockstep.keras_model(args.variant, dropout=True)
    settings = argparse.Namespace(dropout=True, torch_batchnorm=False, optimizer="keras_rmsprop")
    port = lockstep.student(settings, torch.float32).to(memory_format=torch.channels_last)  # the train stage's
    opt = lockstep.optimizer(settings, port)
    lockstep.load(port, opt, model)  # Keras' initial weights; its optimizer holds no velocity yet
    rng = np.random.default_rng(args.seed)
    record = {"variant": args.variant, "seed": args.seed, "epochs": [], "keras": keras.__version__,
              "tensorflow": ref.tf.__version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "idx_md5": md5, "train_images": len(train[0]), "val_images": len(val[0]),
              "measure": "per epoch, each framework on its own from the same initial weights, the same batches "
                         "and dropout masks: training loss and accuracy over the epoch's batches (dropout on), "
                         "validation accuracy after it"}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.variant}-twins-seed{args.seed}.json"
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(train[0]))
        steps = len(order) // 32
        sums = {"keras": [0.0, 0], "port": [0.0, 0]}
        port.train()
        for step in range(steps):
            idx = order[32 * step: 32 * (step + 1)]
            xb, yb = train[0][idx], train[1][idx]
            lockstep.set_masks(model, [port], lockstep.draw_masks(model, rng))
            model.reset_metrics()  # the figures it returns are then this batch's
            logs = model.train_on_batch(xb, yb, return_dict=True)
            sums["keras"][0] += float(logs["loss"])
            sums["keras"][1] += round(float(logs["accuracy"]) * 32)
            opt.zero_grad()
            logits = port(lockstep.nchw(xb))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(yb))
            loss.backward()
            opt.step()
            sums["port"][0] += loss.item()
            sums["port"][1] += int((logits.detach().argmax(1).numpy() == yb.argmax(1)).sum())
        row = {"epoch": epoch}
        for side, (loss_sum, hits) in sums.items():
            row[f"{side}_train_loss"] = round(loss_sum / steps, 6)
            row[f"{side}_train_acc"] = round(hits / (32 * steps), 6)
        row["keras_val_acc"] = round(float(model.evaluate(val[0], val[1], batch_size=2000, verbose=0,
                                                          return_dict=True)["accuracy"]), 6)
        row["port_val_acc"] = round(port_accuracy(port, *val), 6)
        port.train()
        record["epochs"].append(row)
        record["seconds"] = round(time.time() - started, 1)
        record["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
        print(json.dumps(row), flush=True)
    print("wrote", path)


if __name__ == "__main__":
    main()
