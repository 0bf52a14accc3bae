"""describe: label counts per class and split (CSV and bar chart) and a 3x3 grid of sample images."""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse
from pathlib import Path

import numpy as np

from fmnist import plots
from fmnist.console import stage
from fmnist.escaping import terminal
from fmnist.data.prepare import label_counts, load_raw
from fmnist.files import write_csv
from fmnist.params import load_params


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--out", default="plots/data")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    raw = load_raw(args.raw)
    dataset, classes = raw["record"]["name"], raw["record"]["classes"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rows = label_counts(raw, params.prepare.val_size)
    header = ["class", "split", "count"]
    write_csv(out / "label_counts.csv", header, [[row[k] for k in header] for row in rows])
    plots.save(plots.label_counts_chart(rows, dataset), out / "label_counts.png")

    x, y = raw["train"]
    pick = np.random.default_rng(params.prepare.sample_seed).choice(len(x), size=min(9, len(x)), replace=False)
    grid = plots.image_grid(x[pick], [classes[y[i]] for i in pick], f"Training samples - {dataset}")
    plots.save(grid, out / "samples.png")
    print(f"{terminal(dataset)}: label counts and samples in {out}")


if __name__ == "__main__":
    main()
