"""evaluate@<experiment>: test metrics with their intervals, calibration, confusion data, misclassification
analysis and the model card of one experiment.

The experiment's MLflow run is then completed from the outputs of train and evaluate (fmnist.tracking.complete:
params, tags, curves, the model and its registration, test metrics, figures, model card, the champion alias);
its id comes from models/<experiment>.run.json. Tracking never fails the stage.
"""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse

from fmnist.console import stage
from fmnist.escaping import terminal
from fmnist.evaluation import evaluate_experiment
from fmnist.params import load_params
from fmnist.paths import ExperimentPaths, prepared_dir
from fmnist.tracking import log_experiment
from fmnist.device import resolve_device

DATASET_RECORD = "data/raw/dataset.json"  # where the data came from, for the model card


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="a name under experiments: in params.yaml")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)

    # The weights record carries the settings the model was trained with (loss, tta, batch sizes);
    # params.yaml only names the experiment's variant and device.
    params = load_params(args.params)
    cfg = params.experiment(args.experiment)
    name = args.experiment
    files = ExperimentPaths(name)
    metrics = evaluate_experiment(
        weights_path=files.weights,
        variant_dir=prepared_dir(cfg.variant),
        metrics_path=files.metrics,
        confusion_csv=files.confusion,
        misclassified_csv=files.misclassified,
        figures_dir=files.figures,
        device=resolve_device(cfg.device),
        card_path=files.model_card,
        dataset_record=DATASET_RECORD,
    )
    log_experiment(name, params)
    print(f"{name} on {terminal(metrics['dataset'])}: test accuracy {metrics['test_accuracy']:.4f} "
          f"({metrics['test_accuracy_low']:.4f}-{metrics['test_accuracy_high']:.4f}), "
          f"macro F1 {metrics['macro_f1']:.4f}, {metrics['errors']} errors of {metrics['test_images']}, "
          f"ECE {metrics['calibration']['ece']:.4f}; model card {files.model_card}")


if __name__ == "__main__":
    main()
