"""Calibration: ECE, NLL and Brier score against hand computations; temperature scaling recovers a planted
temperature; the served model applies the temperature only with `calibrate: true`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fmnist import calibration
from fmnist.temperature import fit_temperature

# Six toy predictions over two classes: (probabilities, true class), with their confidence bin of 15.
TOY = [([0.95, 0.05], 0),  # right, confidence 0.95: bin 15 (14/15, 1]
       ([0.92, 0.08], 1),  # wrong, 0.92: bin 14 (13/15, 14/15]
       ([0.90, 0.10], 0),  # right, 0.90: bin 14 too
       ([0.20, 0.80], 1),  # right, 0.80: bin 12 (11/15, 12/15]
       ([0.55, 0.45], 1),  # wrong, 0.55: bin 9 (8/15, 9/15]
       ([0.30, 0.70], 1)]  # right, 0.70: bin 11 (10/15, 11/15]


def toy():
    return np.array([p for p, _ in TOY]), np.array([y for _, y in TOY])


def test_ece_of_toy_predictions_matches_a_hand_computation():
    probs, y = toy()
    # |accuracy - confidence| per bin, weighted by its share of the six images:
    # bin 15: |1 - 0.95|; bin 14 (two images): |0.5 - 0.91|; bin 12: |1 - 0.8|; bin 9: |0 - 0.55|; bin 11: |1 - 0.7|
    hand = (0.05 + 2 * 0.41 + 0.2 + 0.55 + 0.3) / 6
    assert calibration.expected_calibration_error(y, probs) == pytest.approx(hand)  # 0.32
    bins = calibration.reliability_bins(y, probs)
    assert bins["count"].tolist() == [0] * 8 + [1, 0, 1, 1, 0, 2, 1]
    assert bins["accuracy"][13] == 0.5 and bins["confidence"][13] == pytest.approx(0.91)
    assert np.isnan(bins["accuracy"][0]) and bins["high"][-1] == 1.0


def test_nll_and_brier_match_hand_computations():
    probs, y = toy()
    picked = [0.95, 0.08, 0.90, 0.80, 0.45, 0.70]
    assert calibration.negative_log_likelihood(y, probs) == pytest.approx(-np.mean(np.log(picked)))
    # two classes: each image's squared distance to its one-hot label is 2 (1 - p_true)^2
    assert calibration.brier_score(y, probs) == pytest.approx(np.mean([2 * (1 - p) ** 2 for p in picked]))
    assert calibration.calibration_scores(y, np.eye(2)[y]) == {"ece": 0.0, "nll": 0.0, "brier": 0.0}


def test_a_certain_mistake_keeps_nll_finite():
    assert np.isfinite(calibration.negative_log_likelihood(np.array([1]), np.array([[1.0, 0.0]])))


def test_reliability_rows_leave_empty_bins_blank():
    probs, y = toy()
    rows = calibration.reliability_rows(y, probs)
    assert len(rows) == 15 and rows[0][2:] == [0, "", ""]
    assert rows[13][2:] == [2, "0.910000", "0.500000"]


def planted(temperature: float, n: int = 20000, seed: int = 0):
    """Logits and labels drawn from softmax(logits / temperature): the labels' true temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 10))
    probs = np.exp(logits / temperature)
    probs /= probs.sum(1, keepdims=True)
    labels = (probs.cumsum(1) > rng.random((n, 1))).argmax(1)
    return logits, labels


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_temperature_fitting_recovers_a_planted_temperature(true_t):
    logits, labels = planted(true_t)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.03)
    # the fit lowers the NLL and the ECE of over- or under-confident logits
    if true_t != 1.0:
        before = torch.softmax(torch.from_numpy(logits), 1).numpy()
        after = torch.softmax(torch.from_numpy(logits / fitted), 1).numpy()
        assert calibration.negative_log_likelihood(labels, after) < calibration.negative_log_likelihood(labels, before)
        assert calibration.expected_calibration_error(labels, after) < calibration.expected_calibration_error(
            labels, before)


def test_temperature_of_two_views_fits_the_averaged_probabilities():
    logits, labels = planted(2.0)
    same = fit_temperature(np.stack([logits, logits]), labels)  # two identical views: the same temperature
    assert same == pytest.approx(fit_temperature(logits, labels), rel=1e-6)
    under_inference = torch.inference_mode()(fit_temperature)  # as the training loop calls it
    assert under_inference(logits, labels) == pytest.approx(same, rel=1e-6)


def test_the_served_model_applies_the_temperature_only_when_asked():
    from fmnist.models import build_model
    from fmnist.served import Served
    from fmnist.weights import Weights

    torch.manual_seed(0)
    model = build_model("tiny", num_classes=10, input_size=(28, 28)).eval()
    record = Weights(experiment="t", model="tiny", model_config={}, input_size=[28, 28], state_dict={},
                     classes=[str(i) for i in range(10)], dataset="d", dataset_id="idx-dir", synthetic=False,
                     variant="unit-onehot", normalisation={"shift": 0.0, "scale": 255.0},
                     train={"tta": True, "calibrate": False}, epochs=1, parameters={}, device="cpu", processes=1,
                     torch=torch.__version__, temperature=0.25)
    x = torch.rand(3, 1, 28, 28)
    with torch.inference_mode():
        logits, mirrored = model(x), model(x.flip(-1))
        plain = Served(model, record).probabilities(x)
        assert torch.equal(plain, (torch.softmax(logits, 1) + torch.softmax(mirrored, 1)) / 2)
        on = Served(model, dataclasses.replace(record, train={"tta": True, "calibrate": True})).probabilities(x)
        expected = (torch.softmax(logits / 0.25, 1) + torch.softmax(mirrored / 0.25, 1)) / 2
        assert torch.allclose(on, expected, atol=1e-6)
        no_fit = dataclasses.replace(record, train={"tta": True, "calibrate": True}, temperature=None)
        assert torch.equal(Served(model, no_fit).probabilities(x), plain)  # nothing fitted: nothing applied


def test_a_model_no_better_than_chance_gets_the_largest_temperature():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(0, 3, (2000, 10)), rng.integers(0, 10, 2000)  # logits unrelated to the labels
    assert fit_temperature(logits, labels) == pytest.approx(100.0)
