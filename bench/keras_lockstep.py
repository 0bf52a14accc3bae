#!/usr/bin/env python3
"""The port and Keras in lockstep: one training step from the same state, at every step of a Keras run.

Builds the notebook's model in Keras (bench/keras_reference.py) and trains it on the first N batches of 32 in
order, dropout off (its masks are the one thing two frameworks cannot draw alike). Before every step, fmnist's
`asl` takes Keras' current weights, batch-norm statistics and RMSprop velocities; both then take the step on
the same batch, and the port's change of every weight is compared with Keras' change. Comparing single steps
from a shared state measures the arithmetic (convolutions, batch norm, the loss on the softmax, the optimizer)
and nothing else: two runs left to themselves part after a few steps, since a difference in the last bit of
one gradient grows from step to step (measured: from the same start, the two losses differ by up to 0.35
within 300 steps). What is left to differ between the frameworks' runs is then their random streams (initial
weights, dropout masks, shuffling).

Runs in the Keras virtualenv with torch and fmnist beside it (bench/README.md):

    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300
    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300 --optimizer rmsprop    # torch's
    python bench/keras_lockstep.py IDX_DIR --variant unit-onehot --steps 300 --torch-batchnorm     # torch's

writes one JSON per run to --out.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import keras_reference as ref  # noqa: E402  (bench/: the notebook's model and data in Keras)
import torch  # noqa: E402

from fmnist.models.asl import ASL  # noqa: E402
from fmnist.training.keras_rmsprop import KerasRMSprop  # noqa: E402

keras = ref.keras
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "lockstep"


def keras_model(variant: str):
    warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
    model = ref.CNN_FMNST_model()
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # Dropout.call draws nothing at rate 0
    loss = "categorical_crossentropy" if variant.endswith("onehot") else "sparse_categorical_crossentropy"
    model.compile(loss=loss, metrics=["accuracy"])  # the notebook's: the default RMSprop
    return model


def converters(model) -> list:
    """Per trainable variable of the Keras model, in order (the port's parameters' order), the function that
    turns its array into the port's layout: HWIO kernels to OIHW, the first Dense's rows from Keras' NHWC
    flatten order to torch's NCHW one, the other Dense kernels transposed."""
    channels = [la for la in model.layers if isinstance(la, keras.layers.Conv2D)][-1].filters
    first_dense = [la for la in model.layers if isinstance(la, keras.layers.Dense)][0].kernel
    out = []
    for v in model.trainable_variables:
        if len(v.shape) == 4:
            out.append(lambda a: a.transpose(3, 2, 0, 1))
        elif v is first_dense:
            side = int(round((v.shape[0] // channels) ** 0.5))
            out.append(lambda a, s=side: a.reshape(s, s, channels, -1).transpose(3, 2, 0, 1).reshape(a.shape[1], -1))
        elif len(v.shape) == 2:
            out.append(lambda a: a.T)
        else:
            out.append(lambda a: a)
    return out


def port_arrays(model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The Keras model's trainable weights and batch-norm moving statistics, in the port's layout and order."""
    weights = [np.ascontiguousarray(f(v.numpy())) for f, v in zip(converters(model), model.trainable_variables)]
    stats = [np.asarray(w) for la in model.layers if isinstance(la, keras.layers.BatchNormalization)
             for w in (la.moving_mean.numpy(), la.moving_variance.numpy())]
    return weights, stats


def port_velocities(model) -> list[np.ndarray]:
    return [np.ascontiguousarray(f(v.numpy())) for f, v in zip(converters(model), model.optimizer._velocities)]


def load(port: ASL, opt, model) -> None:
    """The port takes Keras' weights, moving statistics and (once Keras has stepped) RMSprop velocities."""
    weights, stats = port_arrays(model)
    norms = [m for m in port.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for p, w in zip(port.parameters(), weights):
            p.copy_(torch.from_numpy(w))
        for m, mean, var in zip(norms, stats[::2], stats[1::2]):
            m.running_mean.copy_(torch.from_numpy(mean))
            m.running_var.copy_(torch.from_numpy(var))
    if model.optimizer.built:
        for p, v in zip(port.parameters(), port_velocities(model)):
            opt.state[p]["velocity" if isinstance(opt, KerasRMSprop) else "square_avg"] = \
                torch.from_numpy(v).to(p.dtype)
            if not isinstance(opt, KerasRMSprop):
                opt.state[p]["step"] = torch.tensor(float(model.optimizer.iterations.numpy()))


def torch_batchnorm(port: ASL) -> None:
    """PyTorch's own training kernel for every batch norm (statistics in one pass), Keras' moving variance kept."""
    import torch.nn.functional as F

    def forward(self, x):
        with torch.no_grad():
            var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    for m in port.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.forward = forward.__get__(m)


def student(args, dtype) -> ASL:
    """fmnist's asl, dropout off (as in the Keras model here), optionally on PyTorch's own batch-norm kernel."""
    net = ASL(num_classes=10).to(dtype)
    for m in net.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    if args.torch_batchnorm:
        torch_batchnorm(net)
    return net


def optimizer(args, net: ASL):
    if args.optimizer == "keras_rmsprop":
        return KerasRMSprop(net.parameters(), lr=1e-3, rho=0.9, eps=1e-7)
    return torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("idx_dir", type=Path)
    p.add_argument("--variant", choices=ref.VARIANTS, default="unit-onehot")
    p.add_argument("--steps", type=int, default=300, help="batches of 32, the first training images in order")
    p.add_argument("--optimizer", choices=("keras_rmsprop", "rmsprop"), default="keras_rmsprop",
                   help="the port's: Keras' RMSprop (epsilon under the root) or torch's (after it)")
    p.add_argument("--torch-batchnorm", action="store_true", help="PyTorch's own batch-norm kernel in the port")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()

    keras.utils.set_random_seed(args.seed)
    ref.tf.config.experimental.enable_op_determinism()
    (train, _, _), md5 = ref.load_data(args.idx_dir, args.variant, 12000, None)
    model = keras_model(args.variant)
    port = student(args, torch.float32).to(memory_format=torch.channels_last)  # the train stage's layout
    exact = student(args, torch.float64)  # the same step in float64: what both frameworks round
    steppers = {"port": (port, optimizer(args, port)), "float64": (exact, optimizer(args, exact))}
    # one-hot rows are probabilities to cross_entropy, integer labels class numbers
    labels = (lambda y: y) if args.variant.endswith("onehot") else (lambda y: y.astype(np.int64))
    names = [n for n, _ in port.named_parameters()]
    pairs = (("port", "keras"), ("port", "float64"), ("keras", "float64"))
    worst = {pair: {n: 0.0 for n in names} for pair in pairs}
    share = {pair: {n: [] for n in names} for pair in pairs}
    loss_gap = []
    for step in range(args.steps):
        xb, yb = train[0][32 * step: 32 * (step + 1)], train[1][32 * step: 32 * (step + 1)]
        x = torch.from_numpy(np.ascontiguousarray(xb.transpose(0, 3, 1, 2)))
        before = port_arrays(model)[0]
        changes, losses = {}, {}
        for name, (net, opt) in steppers.items():
            load(net, opt, model)
            net.train()
            opt.zero_grad()
            dtype = next(net.parameters()).dtype
            y = torch.from_numpy(labels(yb))
            loss = torch.nn.functional.cross_entropy(net(x.to(dtype)), y.to(dtype) if y.is_floating_point() else y)
            loss.backward()
            opt.step()
            losses[name] = loss.item()
            changes[name] = [p_.detach().double().numpy() - w0 for p_, w0 in zip(net.parameters(), before)]
        model.reset_metrics()  # the loss it returns is then this batch's, not a running mean
        losses["keras"] = float(model.train_on_batch(xb, yb)[0])
        changes["keras"] = [w1.astype(np.float64) - w0 for w0, w1 in zip(before, port_arrays(model)[0])]
        loss_gap.append(abs(losses["port"] - losses["keras"]))
        for pair in pairs:
            for n, mine, theirs in zip(names, changes[pair[0]], changes[pair[1]]):
                gap = np.abs(mine - theirs) / max(np.abs(theirs).max(), 1e-30)
                worst[pair][n] = max(worst[pair][n], float(gap.max()))
                share[pair][n].append(float((gap > 1e-3).mean()))
    record = {
        "variant": args.variant, "optimizer": args.optimizer,
        "batchnorm": "torch" if args.torch_batchnorm else "fmnist",
        "steps": args.steps, "seed": args.seed, "keras": keras.__version__, "tensorflow": ref.tf.__version__,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "idx_md5": md5,
        "measure": "per step, from Keras' state, per weight of each parameter tensor: |A's change - B's change| / the "
                   "largest change B made in that tensor (the gap); float64: the port's step in float64",
        "loss_abs_diff_port_keras_max": float(np.max(loss_gap)),
        "share_of_weights_gap_over_1e-3": {
            " vs ".join(pair): float(np.mean([x for v in share[pair].values() for x in v])) for pair in pairs},
        "per_param_share_gap_over_1e-3": {
            " vs ".join(pair): {n: round(float(np.mean(v)), 6) for n, v in share[pair].items()} for pair in pairs},
        "largest_gap": {" vs ".join(pair): {n: round(v, 6) for n, v in worst[pair].items()} for pair in pairs},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "-torch-batchnorm" if args.torch_batchnorm else ""
    path = args.out / f"{args.variant}-{args.optimizer}{tag}-{args.steps}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if not k.startswith(("per_param", "idx"))}, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()
