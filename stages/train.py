"""train@<experiment>: train one experiment of params.yaml; weights to models/, history to plots/train/.

The run is tracked in MLflow (see fmnist.tracking); models/<experiment>.run.json carries its id to
evaluate, and is written even when tracking fails (then with run_id null and the reason).
"""

import argparse

from fmnist.cli import stage
from fmnist.params import load_params
from fmnist.tracking import TrainingRun
from fmnist.training import train_experiment


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="a name under experiments: in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    name = args.experiment
    cfg = params.experiment(name)
    paths = dict(variant_dir=f"data/prepared/{cfg.variant}", weights_path=f"models/{name}.pt",
                 history_path=f"plots/train/{name}.csv", checkpoint_dir=f"checkpoints/{name}")
    with TrainingRun(name, params, run_file=f"models/{name}.run.json", **paths) as run:
        final = train_experiment(name, cfg, **paths, on_epoch=run.log_epoch, progress=not args.no_progress)
    print(f"{name}: val accuracy {final['val_acc']:.4f} after {final['epoch']} epochs")


if __name__ == "__main__":
    main()
