"""The logged model: the served graph (pixels in, probabilities out), its logging and registration, and
the `champion` alias."""

from __future__ import annotations

from pathlib import Path

CHAMPION = "champion"
MODEL_DIR = "model"  # the logged model's name within its run


def registered_name(experiment: str) -> str:
    return f"fmnist-{experiment}"


def served_model(model, record: dict):
    """The model as served: pixels 0..255, float32 (N, 1, H, W) in, class probabilities (N, C) out.

    prepare's normalisation, a bilinear resize to the training images' size (the identity at that size)
    and the mirror-image average when the experiment uses TTA are part of the graph, so a client needs
    nothing but the pixels.
    """
    import torch

    from fmnist.inference import input_size

    size = input_size(record)
    shift, scale = float(record["normalisation"]["shift"]), float(record["normalisation"]["scale"])
    tta = bool(record["train"].get("tta", False))

    class Probabilities(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)
            x = (x - shift) / scale
            probs = torch.softmax(self.model(x), dim=1)
            if tta:
                probs = (probs + torch.softmax(self.model(x.flip(-1)), dim=1)) / 2
            return probs

    return Probabilities().eval()


def example_pixels(record: dict, variant_dir=None):
    """Two validation images as pixels (the model's input example), or two plain patterns without data."""
    import numpy as np

    from fmnist.inference import input_size

    h, w = input_size(record)
    try:
        x = np.load(Path(variant_dir) / "x_val.npy", mmap_mode="r")[:2]
        norm = record["normalisation"]
        pixels = np.clip(np.asarray(x, np.float32) * norm["scale"] + norm["shift"], 0, 255).round()
        if pixels.shape == (2, 1, h, w):
            return pixels.astype(np.float32)
    except (OSError, TypeError, ValueError):
        pass
    pixels = np.zeros((2, 1, h, w), np.float32)
    pixels[1, 0, h // 7:h - h // 7, w // 3:w - w // 3] = 200.0
    return pixels


def signature(served, example):
    """Any height and width in (-1: exported as dynamic); the graph resizes to the training size."""
    import numpy as np
    import torch
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import Schema, TensorSpec

    with torch.inference_mode():
        output = served(torch.from_numpy(example)).numpy()
    return ModelSignature(Schema([TensorSpec(np.dtype(np.float32), (-1, 1, -1, -1))]),
                          infer_signature(example, output).outputs)


def log_model(client, run_id: str, weights_path, register: bool, variant_dir=None) -> dict:
    """Log the weights as an MLflow pytorch model (pt2) into the run; register it when asked.

    Returns tags recording where it went (model.uri, model.version).
    """
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch

    from fmnist.inference import input_size, load_model

    model, record = load_model(weights_path)
    served = served_model(model, record)
    example = example_pixels(record, variant_dir)
    model_signature = signature(served, example)
    h, w = input_size(record)
    name = registered_name(record["experiment"])
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            served, name=MODEL_DIR, signature=model_signature, input_example=example,
            serialization_format="pt2",  # a traced graph: loading it runs no pickled code
            registered_model_name=name if register else None,
            # Given, not inferred: inference loads the model in a subprocess and takes half a minute.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
            metadata={"classes": list(record["classes"]), "dataset": record["dataset"],
                      "synthetic": bool(record["synthetic"]), "experiment": record["experiment"],
                      "input_size": [h, w],
                      "input": f"pixels 0..255, float32 (N, 1, {h}, {w}) (other sizes are resized to it), "
                               "light garment on dark ground"},
        )
    tags = {"model.uri": info.model_uri, "model.id": info.model_id}  # the id links the test metrics to it
    if register and info.registered_model_version is not None:
        tags["model.version"] = str(info.registered_model_version)
        describe_version(client, name, tags["model.version"], record)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    return tags


def describe_version(client, name: str, version: str, record: dict) -> None:
    """Tag a registered version with its data; describe the registered model the first time."""
    from fmnist.inference import input_size

    h, w = input_size(record)
    client.set_model_version_tag(name, version, "dataset", record["dataset"])
    client.set_model_version_tag(name, version, "synthetic", str(bool(record["synthetic"])).lower())
    if not (client.get_registered_model(name).description or ""):
        client.update_registered_model(
            name, f"The fmnist pipeline's '{record['experiment']}' classifier. Input: pixels 0..255, "
                  f"float32 (N, 1, {h}, {w}) (other sizes are resized), light on dark; output: class "
                  f"probabilities (the classes are in the model's metadata). The alias '{CHAMPION}' marks "
                  "the best test accuracy.")


def update_champion(client, name: str) -> str | None:
    """Point the alias `champion` at the version with the best test accuracy; return that version.

    A model trained on synthetic data never displaces one trained on real data: their accuracies
    do not compare.
    """
    from mlflow.exceptions import MlflowException

    best = None
    for version in client.search_model_versions(f"name='{name}'"):
        if not version.run_id:
            continue
        try:
            run = client.get_run(version.run_id)
        except MlflowException:
            continue
        accuracy = run.data.metrics.get("test_accuracy")
        if accuracy is None or run.info.lifecycle_stage != "active":
            continue
        real = run.data.tags.get("synthetic") != "true"
        key = (real, accuracy, int(version.version))
        if best is None or key > best[0]:
            best = (key, version.version)
    if best is None:
        return None
    client.set_registered_model_alias(name, CHAMPION, best[1])
    return best[1]
