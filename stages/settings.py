"""settings: what each stage reads of params.yaml, resolved, one file per stage under settings/.

The other stages depend on their files here instead of on params sections, so that a change re-runs
exactly the stages whose resolved settings it changes (see fmnist.settings)."""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse

from fmnist.console import stage
from fmnist.params import load_params
from fmnist.settings import write_settings


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="the project folder settings/ goes into (default: .)")
    args = parser.parse_args(argv)

    written = write_settings(load_params(args.params), args.root)
    print(f"settings: {len(written)} file(s) changed" + (": " + ", ".join(str(p) for p in written) if written else ""))


if __name__ == "__main__":
    main()
