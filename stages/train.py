"""train@<experiment>: train one experiment of params.yaml; weights to models/, history to plots/train/,
timings to plots/timing/ (apart, so that two identical runs write identical weights and history).

Its per-epoch metrics are logged to the experiment's MLflow run (see fmnist.tracking; evaluate logs the rest);
models/<experiment>.run.json carries the run id to evaluate, and is written even when tracking fails (then
with run_id null and the reason).
With train.distributed.enabled the stage runs itself again under torchrun (see
fmnist.training.distributed); rank 0 writes the outputs and logs the epochs.
"""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse
import sys

from fmnist.console import progress_bars, stage
from fmnist.data.prepare import load_variant
from fmnist.params import load_params
from fmnist.paths import ExperimentPaths, prepared_dir
from fmnist.tracking import EpochLog
from fmnist.training import distributed, train_experiment
from fmnist.training.checkpoint import fingerprint
from fmnist.device import resolve_device


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="a name under experiments: in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--no-progress", action="store_true",
                        help="no per-batch progress bar (default: params.yaml `progress`, auto: on a terminal only)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    name = args.experiment
    cfg = params.experiment(name)
    files = ExperimentPaths(name)
    paths = dict(variant_dir=prepared_dir(cfg.variant), weights_path=files.weights, history_path=files.history,
                 checkpoint_dir=files.checkpoints, timing_path=files.timing)
    progress = not args.no_progress and progress_bars(params.progress)
    if cfg.distributed.enabled and not distributed.under_torchrun():
        status = distributed.relaunch(cfg.distributed.nproc, [sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
        if status != 0:
            sys.exit(f"error: distributed training of {name} failed (torchrun exit {status}); see the lines above")
        return
    device = resolve_device(cfg.device)
    with distributed.process_group(device.type) as ranks:
        if not ranks.main:  # the other processes only train
            train_experiment(name, cfg, **paths, progress=False)
            return
        # The run is tagged with the checkpoint's fingerprint: a resumed training continues the same run.
        meta, _ = load_variant(paths["variant_dir"], splits=())
        with EpochLog(name, params, files.checkpoints, files.run_file, fingerprint=fingerprint(cfg, meta)) as run:
            final = train_experiment(name, cfg, **paths, on_epoch=run.on_epoch, progress=progress)
    print(f"{name}: val accuracy {final['val_acc']:.4f} after {final['epoch']} epochs"
          + (f" on {ranks.world} processes" if ranks.active else ""))


if __name__ == "__main__":
    main()
