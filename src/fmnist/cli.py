"""The `fmnist` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fmnist import interrupts
from fmnist.console import speak_plainly, stage


@stage
def check_params(argv):
    from fmnist.params import load_params

    parser = argparse.ArgumentParser(prog="fmnist check-params", description="Validate params.yaml.")
    parser.add_argument("path", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.path)
    print(f"{args.path}: ok; dataset {params.data.dataset}; variants {', '.join(params.prepare.variants)}; "
          f"experiments {', '.join(params.experiments)}")


@stage
def predict(argv):
    from fmnist.predict import main as predict_main  # torch loads only for this command

    return predict_main(argv)


@stage
def mlflow_command(argv):
    from fmnist.params import load_params
    from fmnist.tracking import sync

    parser = argparse.ArgumentParser(prog="fmnist mlflow", description="MLflow housekeeping.")
    actions = parser.add_subparsers(dest="action", required=True)
    to_sync = actions.add_parser(
        "sync", description="Log to MLflow the runs the tracking server lacks (their tracking failed, or "
                            "the server is another one), from the DVC outputs; runs already there are completed, "
                            "never duplicated.")
    to_sync.add_argument("experiments", nargs="*", help="default: every experiment in params.yaml")
    to_sync.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    for name in args.experiments:
        params.experiment(name)  # an unknown name fails here, naming the choices
    sync(params, args.experiments or None)


@stage
def seeds(argv):
    from fmnist import sweeps
    from fmnist.params import parse_params
    from fmnist.params_yaml import read_yaml

    parser = argparse.ArgumentParser(
        prog="fmnist seeds", description="The spread over seeds: every experiment's runs in `dvc exp show` that "
        "differ only in their seed, with the mean, standard deviation (n - 1), min-max and n of their test "
        "accuracy and macro F1. Queue a sweep first: dvc exp run --queue -S 'train.seed=range(0,3)' && "
        "dvc exp run --run-all")
    parser.add_argument("experiments", nargs="*", help="default: every experiment in params.yaml")
    parser.add_argument("--min-seeds", type=int, default=2, metavar="N", help="show groups of at least N seeds "
                        "(default 2; 1 shows every run)")
    parser.add_argument("--json", action="store_true", help="the groups as JSON, each run named")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    raw = read_yaml(args.params)  # once, as DVC reads it: validated here, the sections DVC does not show below
    params = parse_params(raw)
    for name in args.experiments:
        params.experiment(name)  # an unknown name fails here, naming the choices
    root = Path(args.params).resolve().parent
    groups, skipped = sweeps.group_runs(sweeps.dvc_exp_show(root), raw)
    groups = [g for g in groups if (not args.experiments or g.experiment in args.experiments)
              and len(g.runs) >= args.min_seeds]
    if args.json:
        print(json.dumps(sweeps.as_json(groups), indent=1))
    elif groups:
        print(sweeps.table(groups, args.min_seeds))
    else:
        print(f"no experiment has runs with {args.min_seeds} or more seeds in dvc exp show; queue a sweep: "
              "dvc exp run --queue -S 'train.seed=range(0,3)' && dvc exp run --run-all")
    if skipped:
        print(f"left out {len(skipped)} row(s) whose params.yaml today's rules refuse: {', '.join(skipped)}",
              file=sys.stderr)


COMMANDS = {  # name: (function, the line `fmnist --help` shows for it)
    "check-params": (check_params, "validate params.yaml and list its dataset, variants and experiments"),
    "predict": (predict, "classify PNG/JPEG files with a trained model (a weights file or an MLflow model URI)"),
    "seeds": (seeds, "the spread over seeds: mean, std, min-max and n of the runs that differ only in seed"),
    "mlflow": (mlflow_command, "MLflow housekeeping: `fmnist mlflow sync` logs the runs the server lacks"),
}


def main(argv=None):
    if argv is None:  # the `fmnist` program: Ctrl-C is one line, and so is any name the terminal cannot show
        interrupts.install()
        speak_plainly()
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="fmnist", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fashion-MNIST pipeline tools (the stages themselves run with `dvc repro`).",
        epilog="commands:\n" + "\n".join(f"  {name:<14}{line}" for name, (_, line) in COMMANDS.items())
               + "\n\n`fmnist COMMAND --help` describes a command's own arguments.")
    parser.add_argument("command", metavar="COMMAND", choices=list(COMMANDS), help="one of the commands below")
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="the command's own arguments")
    if not argv:  # a bare `fmnist` asks what there is: the help, not a usage error
        parser.print_help()
        return 0
    args = parser.parse_args(argv[:1])
    return COMMANDS[args.command][0](argv[1:])


if __name__ == "__main__":
    main()
