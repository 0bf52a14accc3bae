"""Seed sweeps: the runs of one experiment that differ only in their seed, and the spread of their results.

    dvc exp run --queue -S 'train.seed=range(0,3)'    # DVC's grid syntax: three queued DVC experiments
    dvc exp run --run-all                             # (or dvc queue start); each retrains what inherits seed
    fmnist seeds                                      # mean, std, min-max and n per experiment

A seed group is a digest of everything that decides an experiment's result except its seed: its resolved
settings (model options with their declared defaults), the data it was prepared from and the validation size.
`fmnist seeds` computes it for every experiment of every row `dvc exp show --json` lists, and the train stage
tags each MLflow run with the same digest (`seed_group`), so the runs of one sweep can be found together in
the MLflow UI (`tags.seed_group = '...'`). A run of the same group and seed seen twice (the workspace and its
commit, or an experiment that sets its own seed and so did not change) counts once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fmnist import model_specs
from fmnist.errors import FmnistError, ParamsError
from fmnist.stats import Spread, spread

FIGURES = ("test_accuracy", "macro_f1")  # what is aggregated, from metrics/<experiment>.json
NOT_RESULTS = ("timeout", "retries")  # data settings that say how to download, not what was trained on


def seed_group(experiment: str, settings: dict, data: dict, val_size: int) -> str:
    """12 hex digits naming what `experiment` trained, its seed left out (the same for two runs exactly when
    they differ in nothing but the seed)."""
    resolved = {key: value for key, value in settings.items() if key != "seed"}
    resolved["model_config"] = {**model_specs.defaults(settings["model"]), **(settings.get("model_config") or {})}
    what = {"experiment": experiment, "settings": resolved, "val_size": val_size,
            "data": {key: value for key, value in data.items() if key not in NOT_RESULTS}}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Group:
    """The runs of one experiment that share a seed group: seed -> (DVC row name, figures)."""

    experiment: str
    group: str
    runs: dict[int, tuple[str, dict]] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def spread(self, figure: str) -> Spread | None:
        values = [figures[figure] for _, figures in self.runs.values() if figures.get(figure) is not None]
        return spread(values) if values else None


def dvc_exp_show(root: Path) -> list:
    """`dvc exp show --json` of the project at `root` (the workspace, its commit and their experiments)."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=root,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise FmnistError(f"dvc exp show failed in {root}: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return json.loads(proc.stdout)


def rows(shown: list):
    """(name, params.yaml as DVC shows it, {metrics file: values}) of every row with results: the workspace,
    each baseline commit and each of their experiments (queued or failed ones have none)."""
    for baseline in shown:
        for row in [baseline, *(rev for exp in baseline.get("experiments") or [] for rev in exp.get("revs") or [])]:
            data = row.get("data") or {}
            params = ((data.get("params") or {}).get("params.yaml") or {}).get("data")
            metrics = {path: (entry or {}).get("data") or {} for path, entry in (data.get("metrics") or {}).items()}
            if params and metrics:
                rev = str(row.get("rev", ""))
                yield row.get("name") or (rev if rev == "workspace" else rev[:7]), params, metrics


def group_runs(shown: list, workspace_params: dict) -> tuple[list[Group], list[str]]:
    """Every experiment's runs, grouped by seed group; and the rows skipped because their params.yaml does
    not parse with today's rules (sections DVC does not show, such as mlflow, come from `workspace_params`)."""
    from fmnist.params import parse_params

    groups: dict[tuple[str, str], Group] = {}
    skipped = []
    for name, shown_params, metrics in rows(shown):
        try:
            params = parse_params({**workspace_params, **shown_params})
        except ParamsError:
            skipped.append(name)
            continue
        data = dataclasses.asdict(params.data)
        for experiment, settings in params.experiments.items():
            figures = metrics.get(f"metrics/{experiment}.json")
            if not figures:
                continue
            digest = seed_group(experiment, dataclasses.asdict(settings), data, params.prepare.val_size)
            group = groups.setdefault((experiment, digest), Group(experiment, digest))
            group.runs.setdefault(settings.seed, (name, {key: figures.get(key) for key in FIGURES}))
    return list(groups.values()), skipped


def table(groups: list[Group], minimum: int = 2) -> str:
    """One line per group of at least `minimum` seeds: n, the seeds, and each figure's mean ± std, min-max."""
    lines = [f"{'experiment':<24} {'seed group':<12} {'n':>3}  {'seeds':<12} "
             f"{'test accuracy: mean ± std (min-max)':<38} macro F1: mean ± std"]
    for group in sorted(groups, key=lambda g: (g.experiment, -len(g.runs))):
        if len(group.runs) < minimum:
            continue
        acc, f1 = group.spread("test_accuracy"), group.spread("macro_f1")
        seeds = ",".join(map(str, group.seeds))
        acc_text = (f"{100 * acc.mean:.2f} ± {100 * acc.std:.2f} % ({100 * acc.min:.2f}-{100 * acc.max:.2f})"
                    if acc else "-")
        f1_text = f"{f1.mean:.4f} ± {f1.std:.4f}" if f1 else "-"
        lines.append(f"{group.experiment:<24} {group.group:<12} {len(group.runs):>3}  {seeds:<12} "
                     f"{acc_text:<38} {f1_text}")
    return "\n".join(lines)


def as_json(groups: list[Group]) -> list[dict]:
    return [{"experiment": g.experiment, "seed_group": g.group, "n": len(g.runs), "seeds": g.seeds,
             "runs": {str(seed): name for seed, (name, _) in sorted(g.runs.items())},
             **{figure: s.as_dict() for figure in FIGURES if (s := g.spread(figure))}}
            for g in sorted(groups, key=lambda g: (g.experiment, g.group))]
