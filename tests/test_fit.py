"""Training on tensors (`fmnist.training.train`) is the train stage's training without its files; the random
draws are seeded by the loop, not by building batches; one normalisation serves prepare, training, evaluation,
serving and the MLflow input example."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from fmnist.data.prepare import load_variant
from fmnist.normalisation import Normalisation
from fmnist.params import Augment, ExperimentSettings
from fmnist.training import train, train_experiment
from fmnist.training import distributed
from fmnist.training.batches import Batches
from fmnist.training.loop import load_splits

# Dropout, augmentation and a one-cycle schedule: every kind of random draw and per-step state.
RECIPE = ExperimentSettings(model="resnet", variant="standard-sparse", optimizer="sgd", lr=0.05, momentum=0.9,
                            epochs=2, batch_size=50, schedule="onecycle", label_smoothing=0.1,
                            augment=Augment(crop=2, flip=True, erase=0.25), model_config={"width": 8})


def test_training_on_tensors_is_the_stage_training_bit_for_bit(prepared, tmp_path):
    variant = prepared / RECIPE.variant
    with contextlib.redirect_stdout(io.StringIO()):
        last = train_experiment("files", RECIPE, variant, tmp_path / "w.pt", tmp_path / "h.csv", tmp_path / "ck",
                                progress=False)
        meta, splits = load_splits(variant, RECIPE, torch.device("cpu"))
        setup, done = train("tensors", RECIPE, splits, len(meta["classes"]), Normalisation.of(meta["normalisation"]),
                            progress=False)
    saved = torch.load(tmp_path / "w.pt", weights_only=True)["state_dict"]
    trained = setup.model.state_dict()
    assert list(saved) == list(trained)
    assert all(torch.equal(saved[k], trained[k].cpu()) for k in saved)
    assert [row["epoch"] for row in done.history] == [1, 2] and done.epoch == 2
    timing = ("seconds", "images_per_s")
    assert {k: v for k, v in done.history[-1].items() if k not in timing} == {
        k: v for k, v in last.items() if k not in timing}


def test_building_an_epochs_batches_leaves_the_global_rng_alone(prepared):
    _, splits = load_splits(prepared / RECIPE.variant, RECIPE, torch.device("cpu"))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    batches = Batches(splits["train"], RECIPE, 1, 0.0, distributed.Ranks())
    assert torch.equal(torch.rand(3), expected)
    again = Batches(splits["train"], RECIPE, 1, 0.0, distributed.Ranks())
    assert torch.equal(batches.perm, again.perm)  # the permutation depends on (seed, epoch) alone


def test_one_normalisation_from_prepare_to_the_served_graph(prepared):
    meta, arrays = load_variant(prepared / "standard-sparse", ("test",))
    norm = Normalisation.of(meta["normalisation"])
    assert norm.kind == "standard" and norm.record() == meta["normalisation"]
    pixels = norm.pixels(arrays["x_test"])
    assert pixels.min() >= 0 and pixels.max() <= 255 and np.array_equal(pixels, np.round(pixels))
    # prepare's arrays are the pixels put through it, and the served graph computes the same in torch
    assert np.array_equal(norm.inputs(pixels), np.asarray(arrays["x_test"]))
    assert np.array_equal(norm.inputs_of_tensor(torch.from_numpy(pixels)).numpy(), norm.inputs(pixels))
    assert norm.background == (0.0 - norm.shift) / norm.scale
    assert Normalisation.fit("unit", pixels) == Normalisation("unit", 0.0, 255.0)
    assert Normalisation.fit("raw", pixels).record() == {"kind": "raw", "shift": 0.0, "scale": 1.0}
