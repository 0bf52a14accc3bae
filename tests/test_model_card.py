"""The model card from evaluate's results: every section, the data named for what it is (the first-release split
recognised from the dataset record), class names escaped, a model without a temperature said so."""

from __future__ import annotations

import copy

from fmnist.data.classes import FASHION_CLASSES
from fmnist.data.kinds import KINDS
from fmnist.model_card import SECTIONS, build_card, confused_pairs, first_release, md

OFFICIAL = KINDS["fashion-mnist"].md5
# The download stage's record of the real images in their first-release split: the official label files, other
# image files, that release's duplicate counts.
FIRST_RELEASE = {
    "id": "idx-dir", "name": "Fashion-MNIST, first-release split", "synthetic": False, "classes": FASHION_CLASSES,
    "duplicates": {"within_train": 43, "within_test": 1, "across": 10},
    "files": {**OFFICIAL, "train-images-idx3-ubyte.gz": "b352ddf7d77e2633d68292568b126c74",
              "t10k-images-idx3-ubyte.gz": "afa7ef3ac7d9e4f15403916d426497ab"}}


def results(classes, train_split="all", temperature=None):
    """info, metrics and misclassification table as evaluate writes them, for two test images per class."""
    k = len(classes)
    info = {"experiment": "resnet", "dataset": "Fashion-MNIST, first-release split", "synthetic": False,
            "model": "resnet", "variant": "standard-sparse", "loss": "cross_entropy", "classes": classes,
            "input_size": [28, 28], "images": {"train": 60000 - 12000, "val": 12000, "test": 2 * k},
            "settings": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "schedule": "onecycle",
                         "batch_size": 256, "weight_decay": 0.0005, "momentum": 0.9, "label_smoothing": 0.1,
                         "augment": {"crop": 2, "flip": True, "erase": 0.25}, "train_split": train_split, "seed": 0,
                         "tta": True, "calibrate": False, "model_config": {"width": 32}},
            "trained_on": {"device": "cpu", "processes": 1, "torch": "2.13.0+cpu"},
            "calibration_note": "no temperature: this experiment trains on its validation images (train_split: all)"}
    calibration = {"ece": 0.0312, "nll": 0.1811, "brier": 0.0702}
    if temperature:
        calibration.update(temperature=temperature, ece_before_scaling=0.0312, ece_after_scaling=0.0105)
        info["calibration_note"] = "temperature 0.8000, fitted on the 12,000 validation images; not applied"
    metrics = {"test_accuracy": 0.95, "test_accuracy_low": 0.91, "test_accuracy_high": 0.97, "test_loss": 0.2,
               "macro_f1": 0.949, "macro_f1_low": 0.93, "macro_f1_high": 0.96, "errors": 1, "test_images": 2 * k,
               "calibration": calibration, "parameters": 1645546, "epochs": 30,
               "per_class": {"precision": [1.0] * k, "recall": [1.0] * k, "f1": [1.0] * k, "support": [2] * k}}
    table = [{"class": c, "images": 2, "accuracy": 1.0, "errors": 0, "error_share": 0.0,
              "mistaken_for_1": "", "mistaken_for_1_count": 0, "mistaken_for_2": "", "mistaken_for_2_count": 0,
              "mistaken_for_3": "", "mistaken_for_3_count": 0} for c in classes]
    table[6].update(accuracy=0.5, errors=1, error_share=1.0, mistaken_for_1=classes[0], mistaken_for_1_count=1)
    return info, metrics, table


def headings(card: str) -> list[str]:
    return [line[3:] for line in card.splitlines() if line.startswith("## ")]


def test_the_card_holds_every_section_and_names_the_first_release_split():
    card = build_card(*results(FASHION_CLASSES), FIRST_RELEASE)
    assert headings(card) == list(SECTIONS)
    assert "**Fashion-MNIST, first-release split**: IDX files from a local folder." in card
    assert "split of its first release (August 2017), not today's official test set" in card
    assert "48,000 training images, 12,000 validation images (the last of the training file; trained on too" in card
    assert "| test accuracy | 95.00 % | 91.00 % to 97.00 % (Wilson) |" in card
    assert "| macro F1 | 0.9490 | 0.9300 to 0.9600 (bootstrap) |" in card
    assert "1,645,546 trainable parameters" in card and "| momentum | `0.9` |" in card
    assert "| augmentation | `crop 2, flip True, erase 0.25` |" in card
    assert "Most confused: Shirt taken for T-shirt/top 1 time." in card
    assert "Its weakest class is Shirt (50.00 % of its test images right, most often taken for T-shirt/top)" in card
    assert "No temperature: this experiment trains on its validation images (train_split: all)." in card
    assert "label smoothing 0.1" in card and "`fmnist predict --invert`" in card
    assert "Quoting its test accuracy as a score on the official Fashion-MNIST test set." in card


def test_a_fitted_temperature_and_its_effect_are_in_the_card():
    card = build_card(*results(FASHION_CLASSES, "train", temperature=0.8), FIRST_RELEASE)
    assert "Temperature 0.8000, fitted on the 12,000 validation images; not applied." in card
    assert "Dividing the logits by 0.8000 moves the test ECE from 0.0312 to 0.0105." in card
    assert "(the last of the training file; held out)" in card


def test_only_that_records_files_and_counts_make_the_first_release_split():
    assert first_release(FIRST_RELEASE)
    official = {**FIRST_RELEASE, "files": dict(OFFICIAL)}  # today's official files
    assert not first_release(official) and not first_release(None)
    other = copy.deepcopy(FIRST_RELEASE)
    other["duplicates"]["across"] = 0
    assert not first_release(other)
    card = build_card(*results(FASHION_CLASSES), other)
    assert "first release" not in card and "0 test images with a twin among the training images" in card
    assert "origin not recorded" in build_card(*results(FASHION_CLASSES), None)


def test_class_names_are_escaped():
    classes = [f"c{i}" for i in range(10)]
    classes[0], classes[6] = "T|shirt <b>", "*Shirt*_x"
    card = build_card(*results(classes), None)
    # the project's one Markdown escaping (fmnist.escaping): markup escaped, HTML as entities
    assert "| T\\|shirt &lt;b&gt; | 2 |" in card and "\\*Shirt\\*\\_x taken for T\\|shirt &lt;b&gt;" in card
    assert "<b>" not in card
    assert md("a\nb [x](y)") == "a b \\[x\\](y)"


def test_confused_pairs_most_first():
    table = [{"class": "a", "mistaken_for_1": "b", "mistaken_for_1_count": 2, "mistaken_for_2": "c",
              "mistaken_for_2_count": 1, "mistaken_for_3": "", "mistaken_for_3_count": 0},
             {"class": "b", "mistaken_for_1": "a", "mistaken_for_1_count": 5, "mistaken_for_2": "",
              "mistaken_for_2_count": 0, "mistaken_for_3": "", "mistaken_for_3_count": 0}]
    assert confused_pairs(table) == [("b", "a", 5), ("a", "b", 2), ("a", "c", 1)]


def test_a_synthetic_model_is_for_testing_only():
    info, metrics, table = results(FASHION_CLASSES, "train")
    info.update(dataset="Synthetic (generated, not Fashion-MNIST)", synthetic=True)
    card = build_card(info, metrics, table, {"id": "synthetic", "classes": FASHION_CLASSES})
    assert "generated images (data.synthetic), NOT Fashion-MNIST" in card
    uses = card[card.index("## Intended uses"):]
    assert "Testing the pipeline" in uses and "Classifying any real image." in uses
