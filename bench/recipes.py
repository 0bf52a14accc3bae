"""Recipe search on the validation split: each try trains one experiment's settings with a few
changes and records its validation accuracy after every epoch against the training seconds so far.

The test split is never read: a try sees the prepared variant's train and val splits only (the
loop evaluates `test` only when `track_test` is set, and every try here leaves it off). Results go
to bench/results/recipes/<search>.json, one entry per try, kept across runs (a try already there is
not run again), and the table in docs/recipes.md is made from them.

    python bench/recipes.py run quick data/prepared/standard-sparse      # the tries not yet made
    python bench/recipes.py table --write                                # docs/recipes.md from the results
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "recipes"
DOC = ROOT / "docs" / "recipes.md"

# Each search: the experiment whose params.yaml settings it starts from, and its tries (changes to them).
QUICK_BASE = dict(model="resnet", variant="standard-sparse", optimizer="sgd", lr=0.1, momentum=0.9,
                  weight_decay=5e-4, batch_size=256, schedule="onecycle", label_smoothing=0.1,
                  augment=dict(crop=2, flip=True, erase=0.0), tta=True)
SEARCHES = {
    # `quick`: above seed003's best published 92.05 % in at most 3 minutes of training on 2 CPU cores.
    "quick": {
        "w8-e12": {**QUICK_BASE, "model_config": {"width": 8}, "epochs": 12},
        "w8-e10": {**QUICK_BASE, "model_config": {"width": 8}, "epochs": 10},
        "w8-e11": {**QUICK_BASE, "model_config": {"width": 8}, "epochs": 11},
        "w8-e12-b512": {**QUICK_BASE, "model_config": {"width": 8}, "epochs": 12, "batch_size": 512, "lr": 0.2},
        "w12-e7": {**QUICK_BASE, "model_config": {"width": 12}, "epochs": 7},
    },
}


def train_settings(changes: dict):
    from fmnist.params import Augment, ExperimentSettings

    fields = {**changes, "augment": Augment(**changes.get("augment", {})), "device": "cpu", "track_test": False}
    return ExperimentSettings(**fields)


def run(search: str, variant_dir: Path, tries: dict | None = None, results: Path = RESULTS) -> dict:
    """Make each try of `search` not yet in its results file; return the file's entries."""
    import torch

    from fmnist import tables
    from fmnist.training import train_experiment

    path = results / f"{search}.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    for name, changes in (tries or SEARCHES[search]).items():
        if name in done:
            continue
        cfg = train_settings(changes)
        load = os.getloadavg()[0]  # other work on the machine makes the seconds upper bounds
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            final = train_experiment(name, cfg, variant_dir, out / "w.pt", out / "h.csv", out / "ck",
                                     progress=False, timing_path=out / "t.json")
            timing = json.loads((out / "t.json").read_text())
            history = tables.read_history(out / "h.csv")
        elapsed = itertools.accumulate(epoch["seconds"] for epoch in timing["epochs"])
        curve = [{"epoch": int(epoch), "val_acc": float(acc), "seconds": round(seconds, 1)}
                 for epoch, acc, seconds in zip(history["epoch"], history["val_acc"], elapsed)]
        done[name] = {"changes": changes, "val_acc": final["val_acc"], "epochs": cfg.epochs,
                      "train_seconds": timing["train_seconds"], "curve": curve,
                      "machine": f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} threads, load {load:.1f}",
                      "date": datetime.date.today().isoformat()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(done, indent=1) + "\n")
        print(f"{search} {name}: val_acc {final['val_acc']:.4f} after {cfg.epochs} epochs, "
              f"{timing['train_seconds']:.0f} s", flush=True)
    return done


def table(results: Path = RESULTS) -> str:
    lines = ["| search | try | changes from the base | validation accuracy | epochs | training time | machine, date |",
             "|---|---|---|---:|---:|---:|---|"]
    for path in sorted(results.glob("*.json")):
        search = path.stem
        base = {"quick": QUICK_BASE}.get(search, {})
        for name, entry in json.loads(path.read_text()).items():
            changes = {k: v for k, v in entry["changes"].items() if base.get(k) != v}
            shown = ", ".join(f"{k} {json.dumps(v)}" for k, v in changes.items())
            lines.append(f"| {search} | {name} | {shown} | {100 * entry['val_acc']:.2f} % | {entry['epochs']} | "
                         f"{entry['train_seconds']:.0f} s | {entry['machine']}, {entry['date']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="make the tries of a search not yet made")
    r.add_argument("search", choices=sorted(SEARCHES))
    r.add_argument("variant_dir", type=Path, help="a prepared variant folder, e.g. data/prepared/standard-sparse")
    t = sub.add_parser("table", help="the table of every try made")
    t.add_argument("--write", action="store_true", help=f"write it into {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.search, args.variant_dir)
        return 0
    text = table()
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from table import write_section

        begin, end = "<!-- recipes: made by bench/recipes.py table --write -->", "<!-- /recipes -->"
        write_section(f"{begin}\n{text}{end}\n", begin, end, DOC)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
