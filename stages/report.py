"""report: one Markdown and one self-contained HTML page comparing every experiment of params.yaml."""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse

from fmnist.console import stage
from fmnist.params import load_params
from fmnist.report import build_report


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports", help="folder for report.md, report.html and figures")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    paths = build_report(".", params.experiments, args.out, params.published)
    print(f"report on {len(params.experiments)} experiments: {paths['markdown']}, {paths['html']}")


if __name__ == "__main__":
    main()
