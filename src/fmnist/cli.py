"""The `fmnist` command, and the error handling every stage script shares."""

from __future__ import annotations

import argparse
import functools
import sys

from fmnist.errors import FmnistError


def stage(main):
    """Run a stage's main(): a user-facing fault becomes one line on stderr and exit status 2."""

    @functools.wraps(main)
    def run(argv=None):
        try:
            return main(argv)
        except FmnistError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return run


@stage
def check_params(argv):
    from fmnist.params import load_params

    parser = argparse.ArgumentParser(prog="fmnist check-params", description="Validate params.yaml.")
    parser.add_argument("path", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.path)
    print(f"{args.path}: ok; dataset {params.data.dataset}; variants {', '.join(params.prepare.variants)}; "
          f"experiments {', '.join(params.experiments)}")


COMMANDS = {"check-params": check_params}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="fmnist", description="Fashion-MNIST pipeline tools (the stages themselves run with `dvc repro`).")
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (see COMMAND --help)")
    args = parser.parse_args(argv[:1])
    return COMMANDS[args.command](argv[1:])


if __name__ == "__main__":
    main()
