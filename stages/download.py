"""download: the four IDX .gz files of data.dataset into data/raw, checked, plus dataset.json."""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse

from fmnist.console import stage
from fmnist.escaping import terminal
from fmnist.data.sources import fetch_dataset
from fmnist.params import load_params


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/raw", help="folder for the four files (default: data/raw)")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    record = fetch_dataset(params.data, args.out)
    print(f"{terminal(record['name'])}: {len(record['classes'])} classes, files in {args.out}")


if __name__ == "__main__":
    main()
