"""The logged model: the served graph (fmnist.served.Served) logged into its run, registered, and the
`champion` alias."""

from __future__ import annotations

from pathlib import Path

CHAMPION = "champion"
MODEL_DIR = "model"  # the logged model's name within its run
CARD_DIR = "model_card"  # artifact folder of the model card
DESCRIPTION_LIMIT = 5000  # characters MLflow's stores keep for a model version's description (String(5000))


def registered_name(experiment: str) -> str:
    return f"fmnist-{experiment}"


def example_pixels(weights, variant_dir=None):
    """Two validation images as pixels (the model's input example), or two plain patterns without data."""
    import numpy as np

    from fmnist.normalisation import Normalisation

    h, w = weights.input_size
    try:
        x = np.load(Path(variant_dir) / "x_val.npy", mmap_mode="r")[:2]
        pixels = Normalisation.of(weights.normalisation).pixels(x)
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

    from fmnist.served import load_served

    served, weights = load_served(weights_path)
    example = example_pixels(weights, variant_dir)
    model_signature = signature(served, example)
    h, w = weights.input_size
    name = registered_name(weights.experiment)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            served, name=MODEL_DIR, signature=model_signature, input_example=example,
            serialization_format="pt2",  # a traced graph: loading it runs no pickled code
            registered_model_name=name if register else None,
            # Given, not inferred: inference loads the model in a subprocess and takes half a minute.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
            metadata={"classes": list(weights.classes), "dataset": weights.dataset,
                      "synthetic": bool(weights.synthetic), "experiment": weights.experiment,
                      "input_size": [h, w],
                      "input": f"pixels 0..255, float32 (N, 1, {h}, {w}) (other sizes are resized to it), "
                               "light garment on dark ground"},
        )
    tags = {"model.uri": info.model_uri, "model.id": info.model_id}  # the id links the test metrics to it
    if register and info.registered_model_version is not None:
        tags["model.version"] = str(info.registered_model_version)
        describe_version(client, name, tags["model.version"], weights)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    return tags


def describe_version(client, name: str, version: str, weights) -> None:
    """Tag a registered version with its data; describe the registered model the first time."""
    h, w = weights.input_size
    client.set_model_version_tag(name, version, "dataset", weights.dataset)
    client.set_model_version_tag(name, version, "synthetic", str(bool(weights.synthetic)).lower())
    if not (client.get_registered_model(name).description or ""):
        client.update_registered_model(
            name, f"The fmnist pipeline's '{weights.experiment}' classifier. Input: pixels 0..255, "
                  f"float32 (N, 1, {h}, {w}) (other sizes are resized), light on dark; output: class "
                  f"probabilities (the classes are in the model's metadata). The alias '{CHAMPION}' marks "
                  "the best test accuracy.")


def version_description(card: str, artifact: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """A model card as a model version's description: whole when it fits, else its first sections that fit
    and a line naming the run's artifact that holds the whole card."""
    if len(card) <= limit:
        return card
    note = f"\n\n*(Cut to fit; the whole card is the run's artifact `{artifact}`.)*\n"
    cut = card.rfind("\n## ", 0, limit - len(note))
    return (card[:cut] if cut > 0 else card[:limit - len(note)]).rstrip() + note


def log_card(client, run_id: str, card_path, name: str, version: str | None) -> None:
    """The model card into the run (model_card/<file>) and, for a registered version, as its description."""
    from pathlib import Path

    card_path = Path(card_path)
    client.log_artifact(run_id, str(card_path), CARD_DIR)
    if version:
        client.update_model_version(name, version, description=version_description(
            card_path.read_text(), f"{CARD_DIR}/{card_path.name}"))


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
