"""Where each experiment's files live, in one place (dvc.yaml declares the same paths as the stages' outs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def prepared_dir(variant: str, root: str | Path = ".") -> Path:
    """The prepared arrays of one variant, e.g. data/prepared/unit-onehot."""
    return Path(root) / "data" / "prepared" / variant


@dataclasses.dataclass(frozen=True)
class ExperimentPaths:
    """The files of experiment `name` under the project folder `root`."""
    name: str
    root: Path = Path(".")

    @property
    def weights(self) -> Path:  # train: the weights record (fmnist.weights)
        return self.root / "models" / f"{self.name}.pt"

    @property
    def run_file(self) -> Path:  # train: the MLflow run id, read by evaluate
        return self.root / "models" / f"{self.name}.run.json"

    @property
    def history(self) -> Path:  # train: per-epoch losses and accuracies
        return self.root / "plots" / "train" / f"{self.name}.csv"

    @property
    def timing(self) -> Path:  # train: seconds in all and per epoch (apart: they differ every run)
        return self.root / "plots" / "timing" / f"{self.name}.json"

    @property
    def checkpoints(self) -> Path:  # train: the checkpoint a cut-off run resumes from
        return self.root / "checkpoints" / self.name

    @property
    def metrics(self) -> Path:  # evaluate: test metrics, numbers only
        return self.root / "metrics" / f"{self.name}.json"

    @property
    def figures(self) -> Path:  # evaluate: info.json and the figures
        return self.root / "plots" / "evaluate" / self.name

    @property
    def info(self) -> Path:  # evaluate: what the metrics are of (dataset, model, class names)
        return self.figures / "info.json"

    @property
    def model_card(self) -> Path:  # evaluate: the model card, also the registered version's description
        return self.root / "reports" / "model_cards" / f"{self.name}.md"

    @property
    def confusion(self) -> Path:  # evaluate: one actual,predicted row per test image
        return self.root / "plots" / "confusion" / f"{self.name}.csv"

    @property
    def misclassified(self) -> Path:  # evaluate: per-class errors
        return self.root / "plots" / "misclassified" / f"{self.name}.csv"
