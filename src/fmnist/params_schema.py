"""Every key of params.yaml's sections, declared once: its dataclass field holds its type, default and rule
(`setting()` of fmnist.params_rules); fmnist.params reads params.yaml into these dataclasses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fmnist.model_specs import SPECS
from fmnist.params_rules import NULL, SEED, class_names, device_name, in_range, one_of, section, setting

DATASETS = ("fashion-mnist", "mnist", "synthetic", "idx-dir", "image-folder")
NORMALISATIONS = ("unit", "raw", "standard")
ENCODINGS = ("onehot", "sparse")
LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "keras_rmsprop", "rmsprop", "adamw", "sgd")
SCHEDULES = ("constant", "onecycle")
SPLITS = ("train", "all")
MODELS = tuple(SPECS)  # the models of the registry, declared without torch
BAD_FILES = ("refuse", "skip")


@dataclass(frozen=True)
class Synthetic:
    train: int = setting(60000, int, in_range(ge=10))
    test: int = setting(10000, int, in_range(ge=10))
    seed: int = setting(0, int, SEED)


@dataclass(frozen=True)
class Data:
    dataset: str = setting("fashion-mnist", str, one_of(DATASETS))
    # a local folder or URL overriding the mirrors; the folder for idx-dir
    source: str | None = setting(None, (str, NULL))
    name: str | None = setting(None, (str, NULL))  # idx-dir: the dataset's name
    # idx-dir: class names (a named list is resolved), else the label numbers; image-folder: their order
    classes: list[str] | None = setting(None, ("str-list", str, NULL), class_names)
    synthetic: Synthetic = section(Synthetic)
    image_size: list[int] = setting([28, 28], "size")  # image-folder: [H, W] the images become
    # image-folder without train/ and test/ folders: each class's share for test
    test_fraction: float = setting(0.2, float, in_range(gt=0, lt=1))
    split_seed: int = setting(0, int, in_range(ge=0))  # image-folder: the seed of that split and of the images' order
    # image-folder: refuse, or skip (and list) files that cannot be decoded
    bad_files: str = setting("refuse", str, one_of(BAD_FILES))
    timeout: float = setting(10.0, float, in_range(gt=0))  # seconds per request
    retries: int = setting(2, int, in_range(ge=1))  # attempts per mirror


@dataclass(frozen=True)
class Prepare:
    normalisations: list[str] = setting(list(NORMALISATIONS), "str-list", one_of(NORMALISATIONS))
    encodings: list[str] = setting(list(ENCODINGS), "str-list", one_of(ENCODINGS))
    val_size: int = setting(12000, int, in_range(ge=1))
    sample_seed: int = setting(0, int, SEED)

    @property
    def variants(self) -> list[str]:
        return [f"{n}-{e}" for n, e in itertools.product(self.normalisations, self.encodings)]


@dataclass(frozen=True)
class Augment:
    crop: int = setting(0, int, in_range(ge=0, le=8))  # random-crop padding in pixels
    flip: bool = setting(False, bool)  # random horizontal flip
    erase: float = setting(0.0, float, in_range(ge=0, le=1))  # probability of random erasing per image


@dataclass(frozen=True)
class Distributed:
    enabled: bool = setting(False, bool)  # train data-parallel: the stage relaunches itself under torchrun
    # processes on this machine (one per GPU; gloo processes on CPU)
    nproc: int = setting(2, int, in_range(ge=1, le=1024))


@dataclass(frozen=True)
class ExperimentSettings:
    """One experiment's effective settings: `train:` (which holds every key but model and variant) overlaid
    with its own entry. The defaults here serve code that builds settings itself (tests, bench); a params
    file declares every value."""

    model: str | None = setting(None, (str, NULL), one_of(MODELS), optional=True)  # each experiment names its own
    variant: str | None = setting(None, (str, NULL), optional=True)
    loss: str = setting("cross_entropy", str, one_of(LOSSES))
    optimizer: str = setting("adam", str, one_of(OPTIMIZERS))
    epochs: int = setting(20, int, in_range(ge=1))
    batch_size: int = setting(32, int, in_range(ge=1))
    lr: float = setting(1e-3, float, in_range(gt=0))
    weight_decay: float = setting(0.0, float, in_range(ge=0))
    momentum: float = setting(0.9, float, in_range(ge=0, le=1))  # sgd only
    schedule: str = setting("constant", str, one_of(SCHEDULES))
    label_smoothing: float = setting(0.0, float, in_range(ge=0, le=0.5))
    augment: Augment = section(Augment)
    distributed: Distributed = section(Distributed)
    tta: bool = setting(False, bool)  # average the prediction over the image and its mirror at evaluation
    train_split: str = setting("train", str, one_of(SPLITS))  # "all" trains on train + validation (as seed000 did)
    track_test: bool = setting(False, bool)  # also record test loss/accuracy each epoch (seed000's curve)
    model_config: dict = setting({}, dict)  # the model's own options: fmnist.models.check_config checks them
    seed: int = setting(0, int, SEED)
    device: str = setting("auto", str, device_name)
    compile: bool = setting(False, bool)
    epoch_limit: int | None = setting(None, (int, NULL))  # cap on every experiment's epochs (demos, smoke runs)
    eval_batch_size: int = setting(2000, int, in_range(ge=1))

    @property
    def normalisation(self) -> str:
        return self.variant.split("-")[0]

    @property
    def encoding(self) -> str:
        return self.variant.split("-")[1]

    @property
    def effective_epochs(self) -> int:
        return self.epochs if self.epoch_limit is None else min(self.epochs, self.epoch_limit)


@dataclass(frozen=True)
class Mlflow:
    tracking_uri: str | None = setting(None, (str, NULL))
    experiment: str = setting("fmnist", str)
    register: bool = setting(True, bool)
