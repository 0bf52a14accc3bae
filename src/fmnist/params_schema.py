"""Every key of params.yaml's sections, declared once: its type, rule and default, as fields of pydantic
dataclasses. fmnist.params validates params.yaml against them and turns pydantic's errors into one line
naming the key. The defaults serve code that builds settings itself (tests, bench): a params file declares
every value, which is where DVC sees it."""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.dataclasses import dataclass

from fmnist.data.classes import NAMED as NAMED_CLASSES
from fmnist.data.kinds import KINDS
from fmnist.model_specs import SPECS

DATASETS = tuple(KINDS)  # fmnist.data.kinds declares each kind and its facts
NORMALISATIONS = ("unit", "raw", "standard")
ENCODINGS = ("onehot", "sparse")
LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "keras_rmsprop", "rmsprop", "adamw", "sgd")
SCHEDULES = ("constant", "onecycle")
SPLITS = ("train", "all")
MODELS = tuple(SPECS)  # the models of the registry, declared without torch
BAD_FILES = ("refuse", "skip")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")

# Unknown keys, NaN and infinities are refused everywhere; each field is strict about its own type (an
# integer is a fine number, a bool is neither).
CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
Float = Annotated[float, Field(strict=True)]


def between(kind, **limits):
    return Annotated[kind, Field(**limits)]


Seed = between(StrictInt, ge=0, le=2**32 - 1)  # torch seeds derived from it must stay within 64 bits


def _device(value: str) -> str:
    if value not in ("auto", "cpu", "cuda", "mps") and re.fullmatch(r"cuda:\d+", value) is None:
        raise ValueError(f"must be one of {', '.join(DEVICES)}; got {value!r}")
    return value


def _class_names(value):
    """A known list by name, or the names themselves: two at least, each present and told apart (they label
    every figure, table and prediction)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in NAMED_CLASSES:
            raise ValueError(f"must be a list of class names or one of {', '.join(NAMED_CLASSES)}; got {value!r}")
        return value
    if len(value) < 2:
        raise ValueError(f"must name two classes or more, got {value!r}")
    if any(not name.strip() for name in value):
        raise ValueError("holds an empty name")
    twice = [name for name in dict.fromkeys(value) if value.count(name) > 1]
    if twice:
        raise ValueError(f"names {twice[0]!r} more than once")
    return value


def section(cls):
    return dataclasses.field(default_factory=cls)


def listed(*values):
    return dataclasses.field(default_factory=lambda: list(values))


@dataclass(config=CONFIG)
class Synthetic:
    train: between(StrictInt, ge=10) = 60000
    test: between(StrictInt, ge=10) = 10000
    seed: Seed = 0


@dataclass(config=CONFIG)
class Data:
    dataset: Literal[DATASETS] = "fashion-mnist"
    # a local folder or URL overriding the mirrors; the folder for idx-dir and image-folder
    source: Optional[StrictStr] = None
    name: Optional[StrictStr] = None  # idx-dir, image-folder: the dataset's name
    # idx-dir: class names (a named list is resolved), else the label numbers; image-folder: their order
    classes: Annotated[Optional[list[StrictStr] | StrictStr], AfterValidator(_class_names)] = None
    synthetic: Synthetic = section(Synthetic)
    # image-folder: [H, W] the images become
    image_size: Annotated[list[between(StrictInt, ge=1, le=512)],
                          Field(min_length=2, max_length=2, description="[height, width] in pixels, each 1 to 512")
                          ] = listed(28, 28)
    # image-folder without train/ and test/ folders: each class's share for test
    test_fraction: between(Float, gt=0, lt=1) = 0.2
    split_seed: between(StrictInt, ge=0) = 0  # image-folder: the seed of that split and of the images' order
    bad_files: Literal[BAD_FILES] = "refuse"  # image-folder: refuse, or skip (and list) undecodable files
    timeout: between(Float, gt=0) = 10.0  # seconds per request
    retries: between(StrictInt, ge=1) = 2  # attempts per mirror


@dataclass(config=CONFIG)
class Prepare:
    normalisations: Annotated[list[Literal[NORMALISATIONS]], Field(min_length=1)] = listed(*NORMALISATIONS)
    encodings: Annotated[list[Literal[ENCODINGS]], Field(min_length=1)] = listed(*ENCODINGS)
    val_size: between(StrictInt, ge=1) = 12000
    sample_seed: Seed = 0

    @property
    def variants(self) -> list[str]:
        return [f"{n}-{e}" for n, e in itertools.product(self.normalisations, self.encodings)]


@dataclass(config=CONFIG)
class Augment:
    crop: between(StrictInt, ge=0, le=8) = 0  # random-crop padding in pixels
    flip: StrictBool = False  # random horizontal flip
    erase: between(Float, ge=0, le=1) = 0.0  # probability of random erasing per image


@dataclass(config=CONFIG)
class Distributed:
    enabled: StrictBool = False  # train data-parallel: the stage relaunches itself under torchrun
    nproc: between(StrictInt, ge=1, le=1024) = 2  # processes on this machine (one per GPU; gloo on CPU)


# Keys of ExperimentSettings that `train:` need not hold: each experiment names its own.
PER_EXPERIMENT = ("model", "variant")


@dataclass(config=CONFIG)
class ExperimentSettings:
    """One experiment's effective settings: `train:` (which holds every key but model and variant) overlaid
    with its own entry."""

    model: Optional[Literal[MODELS]] = None
    variant: Optional[StrictStr] = None
    loss: Literal[LOSSES] = "cross_entropy"
    optimizer: Literal[OPTIMIZERS] = "keras_rmsprop"
    epochs: between(StrictInt, ge=1) = 20
    batch_size: between(StrictInt, ge=1) = 32
    lr: between(Float, gt=0) = 1e-3
    weight_decay: between(Float, ge=0) = 0.0
    momentum: between(Float, ge=0, le=1) = 0.9  # sgd only
    schedule: Literal[SCHEDULES] = "constant"
    label_smoothing: between(Float, ge=0, le=0.5) = 0.0
    augment: Augment = section(Augment)
    distributed: Distributed = section(Distributed)
    tta: StrictBool = False  # average the prediction over the image and its mirror at evaluation
    calibrate: StrictBool = False  # the served model divides its logits by the temperature fitted on validation
    train_split: Literal[SPLITS] = "train"  # "all" trains on train + validation (as seed000 did)
    track_test: StrictBool = False  # also record test loss/accuracy each epoch (seed000's curve)
    model_config: dict = dataclasses.field(default_factory=dict)  # the model's own options (model_specs)
    seed: Seed = 0
    device: Annotated[StrictStr, AfterValidator(_device)] = "auto"
    compile: StrictBool = False
    epoch_limit: Optional[between(StrictInt, ge=1)] = None  # cap on every experiment's epochs (demos, smoke runs)
    eval_batch_size: between(StrictInt, ge=1) = 2000

    @property
    def normalisation(self) -> str:
        return self.variant.split("-")[0]

    @property
    def encoding(self) -> str:
        return self.variant.split("-")[1]

    @property
    def effective_epochs(self) -> int:
        return self.epochs if self.epoch_limit is None else min(self.epochs, self.epoch_limit)


@dataclass(config=CONFIG)
class Mlflow:
    tracking_uri: Optional[StrictStr] = None
    experiment: StrictStr = "fmnist"
    register: StrictBool = True
