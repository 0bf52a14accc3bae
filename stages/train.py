"""train@<experiment>: train one experiment of params.yaml; weights to models/, history to plots/train/."""

import argparse

from fmnist.cli import stage
from fmnist.params import load_params
from fmnist.training import train_experiment


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="a name under experiments: in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    cfg = params.experiment(args.experiment)
    final = train_experiment(
        args.experiment, cfg,
        variant_dir=f"data/prepared/{cfg.variant}",
        weights_path=f"models/{args.experiment}.pt",
        history_path=f"plots/train/{args.experiment}.csv",
        checkpoint_dir=f"checkpoints/{args.experiment}",
        progress=not args.no_progress,
    )
    print(f"{args.experiment}: val accuracy {final['val_acc']:.4f} after {final['epoch']} epochs")


if __name__ == "__main__":
    main()
