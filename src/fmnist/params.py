"""params.yaml as one typed, validated config.

Every stage calls `load_params()` first: an unknown key, a wrong type or an out-of-range value
raises `ParamsError` with a one-line message naming the key, before any work is done.
The `train:` section holds defaults; each entry of `experiments:` overrides any of them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fmnist.data.classes import NAMED as NAMED_CLASSES
from fmnist.errors import ParamsError

DATASETS = ("fashion-mnist", "mnist", "synthetic", "idx-dir", "image-folder")
NORMALISATIONS = ("unit", "raw", "standard")
ENCODINGS = ("onehot", "sparse")
LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "rmsprop", "adamw", "sgd")
SCHEDULES = ("constant", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
SPLITS = ("train", "all")
MODELS = ("tiny", "asl", "resnet")  # kept in step with fmnist.models.MODELS by a test
BAD_FILES = ("refuse", "skip")
# The smallest image side each model takes (fmnist.models' min_side, kept in step by a test; no torch here).
MIN_SIDE = {"tiny": 15, "asl": 1, "resnet": 1}
FIXED_SIZE = {"fashion-mnist": (28, 28), "mnist": (28, 28), "synthetic": (28, 28)}  # (H, W) of their images


@dataclass(frozen=True)
class Synthetic:
    train: int = 60000
    test: int = 10000
    seed: int = 0


@dataclass(frozen=True)
class Data:
    dataset: str = "fashion-mnist"
    source: str | None = None  # a local folder or URL overriding the mirrors; the folder for idx-dir
    name: str | None = None  # idx-dir: the dataset's name
    classes: list[str] | None = None  # idx-dir: class names (a named list is resolved), else the label numbers; image-folder: their order
    image_size: list[int] = field(default_factory=lambda: [28, 28])  # image-folder: [H, W] the images become
    test_fraction: float = 0.2  # image-folder without train/ and test/ folders: each class's share for test
    split_seed: int = 0  # image-folder: the seed of that split and of the order of the images
    bad_files: str = "refuse"  # image-folder: refuse, or skip (and list) files that cannot be decoded
    synthetic: Synthetic = field(default_factory=Synthetic)
    timeout: float = 10.0  # seconds per request
    retries: int = 2  # attempts per mirror


@dataclass(frozen=True)
class Prepare:
    normalisations: list[str] = field(default_factory=lambda: list(NORMALISATIONS))
    encodings: list[str] = field(default_factory=lambda: list(ENCODINGS))
    val_size: int = 12000
    sample_seed: int = 0

    @property
    def variants(self) -> list[str]:
        return [f"{n}-{e}" for n, e in itertools.product(self.normalisations, self.encodings)]


@dataclass(frozen=True)
class Augment:
    crop: int = 0  # random-crop padding in pixels
    flip: bool = False  # random horizontal flip
    erase: float = 0.0  # probability of random erasing per image


@dataclass(frozen=True)
class Distributed:
    enabled: bool = False  # train data-parallel: the stage relaunches itself under torchrun
    nproc: int = 2  # processes on this machine (one per GPU; gloo processes on CPU)


@dataclass(frozen=True)
class Train:
    """One experiment's effective settings: `train:` defaults overlaid with its own entry."""

    model: str | None = None
    variant: str | None = None
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"
    label_smoothing: float = 0.0
    augment: Augment = field(default_factory=Augment)
    distributed: Distributed = field(default_factory=Distributed)
    tta: bool = False  # average the prediction over the image and its mirror at evaluation
    train_split: str = "train"  # "all" trains on train + validation (as seed000 did)
    track_test: bool = False  # also record test loss/accuracy each epoch (seed000's curve)
    model_config: dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    epoch_limit: int | None = None  # cap on every experiment's epochs (demos, smoke runs)
    eval_batch_size: int = 2000

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
    tracking_uri: str | None = None
    experiment: str = "fmnist"
    register: bool = True


@dataclass(frozen=True)
class Params:
    data: Data
    prepare: Prepare
    train: Train
    experiments: dict[str, Train]
    mlflow: Mlflow
    progress: str | bool = "auto"  # progress bars: auto (on a terminal only) | true | false; no stage's dep
    overrides: dict[str, frozenset] = field(default_factory=dict)  # keys each experiment sets itself

    def where(self, experiment: str, key: str) -> str:
        """The params.yaml path that sets `key` for `experiment`, for error messages."""
        own = self.overrides.get(experiment, frozenset())
        return f"experiments.{experiment}.{key}" if key in own else f"train.{key}"

    def experiment(self, name: str) -> Train:
        if name not in self.experiments:
            raise ParamsError(
                f"params.yaml: experiments has no '{name}'; choose one of: {', '.join(self.experiments)}"
            )
        return self.experiments[name]


# --- checks -------------------------------------------------------------------------------------
# Each rule: key -> (type, constraint). Types: int, float, bool, str, "str-list", "section", "size".

def _show(value) -> str:
    """A value as a one-line message shows it: its repr (newlines escaped), cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key(key) -> str:
    """A key as a message names it: plain when it is a plain name, else its repr."""
    return key if isinstance(key, str) and re.fullmatch(r"[\w.-]+", key) else _show(key)


def _range(ge=None, gt=None, le=None, lt=None):
    def check(key, value):
        if lt is not None and value >= lt:
            raise ParamsError(f"params.yaml: {key} must be < {lt}, got {value}")
        if ge is not None and value < ge:
            raise ParamsError(f"params.yaml: {key} must be >= {ge}, got {value}")
        if gt is not None and value <= gt:
            raise ParamsError(f"params.yaml: {key} must be > {gt}, got {value}")
        if le is not None and value > le:
            raise ParamsError(f"params.yaml: {key} must be <= {le}, got {value}")
    return check


def _one_of(choices):
    def check(key, value):
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v not in choices:
                raise ParamsError(f"params.yaml: {key} must be one of {', '.join(choices)}; got {_show(v)}")
        if isinstance(value, list) and not value:
            raise ParamsError(f"params.yaml: {key} must list at least one of {', '.join(choices)}")
    return check


def _class_names(key, value):
    """A known list by name, or the names themselves: two at least, each present and told apart (they label
    every figure, table and prediction)."""
    if isinstance(value, str):
        if value not in NAMED_CLASSES:
            raise ParamsError(f"params.yaml: {key} must be a list of class names or one of "
                              f"{', '.join(NAMED_CLASSES)}; got {_show(value)}")
        return
    if len(value) < 2:
        raise ParamsError(f"params.yaml: {key} must name two classes or more, got {_show(value)}")
    for name in value:
        if not name.strip():
            raise ParamsError(f"params.yaml: {key} holds an empty name")
    twice = [name for name in dict.fromkeys(value) if value.count(name) > 1]
    if twice:
        raise ParamsError(f"params.yaml: {key} names {_show(twice[0])} more than once")


SEED = _range(ge=0, le=2**32 - 1)  # torch seeds derived from it must stay within 64 bits


def _device(key, value):
    """auto, cpu, mps, cuda or cuda:N (the N-th GPU)."""
    if value not in ("auto", "cpu", "cuda", "mps") and re.fullmatch(r"cuda:\d+", value) is None:
        raise ParamsError(f"params.yaml: {key} must be one of {', '.join(DEVICES)}; got {_show(value)}")


def _progress(key, value):
    if value not in ("auto", True, False):
        raise ParamsError(f"params.yaml: {key} must be auto, true or false; got {_show(value)}")


RULES: dict[str, dict[str, tuple]] = {
    "data": {
        "dataset": (str, _one_of(DATASETS)),
        "source": ((str, type(None)), None),
        "name": ((str, type(None)), None),
        "classes": (("str-list", str, type(None)), _class_names),
        "synthetic": ("section", None),
        "image_size": ("size", None),
        "test_fraction": (float, _range(gt=0, lt=1)),
        "split_seed": (int, _range(ge=0)),
        "bad_files": (str, _one_of(BAD_FILES)),
        "timeout": (float, _range(gt=0)),
        "retries": (int, _range(ge=1)),
    },
    "data.synthetic": {
        "train": (int, _range(ge=10)),
        "test": (int, _range(ge=10)),
        "seed": (int, SEED),
    },
    "prepare": {
        "normalisations": ("str-list", _one_of(NORMALISATIONS)),
        "encodings": ("str-list", _one_of(ENCODINGS)),
        "val_size": (int, _range(ge=1)),
        "sample_seed": (int, SEED),
    },
    "train": {
        "model": ((str, type(None)), _one_of(MODELS)),
        "variant": ((str, type(None)), None),
        "loss": (str, _one_of(LOSSES)),
        "optimizer": (str, _one_of(OPTIMIZERS)),
        "epochs": (int, _range(ge=1)),
        "batch_size": (int, _range(ge=1)),
        "lr": (float, _range(gt=0)),
        "weight_decay": (float, _range(ge=0)),
        "momentum": (float, _range(ge=0, le=1)),
        "schedule": (str, _one_of(SCHEDULES)),
        "label_smoothing": (float, _range(ge=0, le=0.5)),
        "augment": ("section", None),
        "distributed": ("section", None),
        "tta": (bool, None),
        "train_split": (str, _one_of(SPLITS)),
        "track_test": (bool, None),
        "model_config": (dict, None),
        "seed": (int, SEED),
        "device": (str, _device),
        "compile": (bool, None),
        "epoch_limit": ((int, type(None)), None),
        "eval_batch_size": (int, _range(ge=1)),
    },
    "train.augment": {
        "crop": (int, _range(ge=0, le=8)),
        "flip": (bool, None),
        "erase": (float, _range(ge=0, le=1)),
    },
    "train.distributed": {
        "enabled": (bool, None),
        "nproc": (int, _range(ge=1, le=1024)),
    },
    "mlflow": {
        "tracking_uri": ((str, type(None)), None),
        "experiment": (str, None),
        "register": (bool, None),
    },
}

TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
              dict: "a mapping", "str-list": "a list of strings", "section": "a mapping",
              "size": "[height, width] in pixels, each 1 to 512",
              type(None): "null"}


def _type_ok(value, kind) -> bool:
    if isinstance(kind, tuple):
        return any(_type_ok(value, k) for k in kind)
    if kind == "str-list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "size":
        return (isinstance(value, list) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 512 for v in value))
    if kind in ("section", dict):
        return isinstance(value, dict)
    if kind is float:  # an integer is a fine number; a bool is not
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_section(path: str, rules_key: str, raw: Any) -> dict:
    """Check the keys of one mapping against RULES[rules_key]; return it with sections checked too."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {path} must be a mapping, got {type(raw).__name__}")
    rules = RULES[rules_key]
    out = {}
    for key, value in raw.items():
        where = f"{path}.{_key(key)}"
        if key not in rules:
            raise ParamsError(f"params.yaml: unknown key {where}; allowed: {', '.join(rules)}")
        kind, check = rules[key]
        if not _type_ok(value, kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            wanted = " or ".join(TYPE_NAMES[k] for k in kinds)
            hint = ("; quote names YAML reads as numbers or booleans, e.g. ['0', '1']"
                    if "str-list" in kinds and isinstance(value, list) else "")
            raise ParamsError(f"params.yaml: {where} must be {wanted}, got {_show(value)}{hint}")
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes every range check
            raise ParamsError(f"params.yaml: {where} must be a finite number, got {value}")
        if kind == "section":
            value = _check_section(where, f"{rules_key}.{key}", value)
        if check is not None and value is not None:
            check(where, value)
        out[key] = value
    return out


def _build(cls, values: dict):
    """Make a dataclass from checked values, turning nested sections into their dataclasses."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        if f.name == "synthetic":
            value = _build(Synthetic, value)
        elif f.name == "augment":
            value = _build(Augment, value)
        elif f.name == "distributed":
            value = _build(Distributed, value)
        elif f.type == "float" and value is not None:
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def parse_params(raw: Any) -> Params:
    """Validate a params mapping (as read from params.yaml) and return the typed config."""
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: the top level must be a mapping")
    sections = ("data", "prepare", "train", "experiments", "mlflow", "progress")
    for key in raw:
        if key not in sections:
            raise ParamsError(f"params.yaml: unknown key {_key(key)}; allowed: {', '.join(sections)}")
    progress = raw.get("progress", "auto")
    _progress("progress", progress)

    data = _build(Data, _check_section("data", "data", raw.get("data")))
    prepare = _build(Prepare, _check_section("prepare", "prepare", raw.get("prepare")))
    defaults = _check_section("train", "train", raw.get("train"))
    mlflow = _build(Mlflow, _check_section("mlflow", "mlflow", raw.get("mlflow")))

    if isinstance(data.classes, str):  # a named list: fashion-mnist, mnist
        data = dataclasses.replace(data, classes=NAMED_CLASSES[data.classes])
    if data.dataset == "idx-dir" and not data.source:
        raise ParamsError("params.yaml: data.source must name the folder of IDX files when data.dataset is idx-dir")
    if data.dataset == "image-folder" and not data.source:
        raise ParamsError("params.yaml: data.source must name the folder of class folders when data.dataset is "
                          "image-folder")
    if data.dataset == "synthetic" and prepare.val_size >= data.synthetic.train:
        raise ParamsError(
            f"params.yaml: prepare.val_size must be < data.synthetic.train ({data.synthetic.train}), "
            f"got {prepare.val_size}")

    raw_experiments = raw.get("experiments") or {}
    if not isinstance(raw_experiments, dict):
        raise ParamsError("params.yaml: experiments must be a mapping of name -> settings")
    if not raw_experiments:
        raise ParamsError("params.yaml: experiments names no experiment; add one (its model and variant)")
    experiments = {}
    for name, settings in raw_experiments.items():
        path = f"experiments.{_key(name)}"
        if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][\w.-]*", name)):
            raise ParamsError(f"params.yaml: experiment name {_key(name)} may hold only letters, digits, "
                              "'_', '.' and '-' (it names files and DVC stages)")
        own = _check_section(path, "train", settings)
        merged = {**defaults, **own}
        for section in ("augment", "distributed"):  # a partial section overrides key by key
            if section in defaults and section in own:
                merged[section] = {**defaults[section], **own[section]}
        exp = _build(Train, merged)
        where = lambda key: path + "." + key if key in own else "train." + key  # noqa: E731
        if exp.model is None:
            raise ParamsError(f"params.yaml: {path}.model is missing; choose one of: {', '.join(MODELS)}")
        if exp.variant is None:
            raise ParamsError(f"params.yaml: {path}.variant is missing; choose one of: "
                              f"{', '.join(prepare.variants)}")
        if exp.variant not in prepare.variants:
            raise ParamsError(
                f"params.yaml: {where('variant')} must be a variant that prepare builds "
                f"({', '.join(prepare.variants)}); got {_show(exp.variant)}")
        if exp.loss == "mse" and exp.encoding != "onehot":
            raise ParamsError(
                f"params.yaml: {where('loss')} mse needs one-hot labels; "
                f"'{exp.variant}' is {exp.encoding}: use an -onehot variant or loss cross_entropy")
        if exp.distributed.enabled and exp.batch_size < 2 * exp.distributed.nproc:
            raise ParamsError(
                f"params.yaml: {where('batch_size')} must be at least 2 per process with distributed.nproc "
                f"{exp.distributed.nproc}, got {exp.batch_size}")
        if "input_size" in exp.model_config:
            raise ParamsError(f"params.yaml: {where('model_config')}.input_size: the input size comes from the "
                              f"images (data.image_size, or the IDX files), not from model_config")
        if exp.model_config:  # the options each model takes are known to the model (torch: imported only here)
            from fmnist.models import check_config
            check_config(exp.model, exp.model_config, where("model_config"))
        if exp.epoch_limit is not None and exp.epoch_limit < 1:
            raise ParamsError(f"params.yaml: {where('epoch_limit')} must be >= 1 or null, got {exp.epoch_limit}")
        experiments[name] = exp

    params = Params(data=data, prepare=prepare, train=_build(Train, defaults), experiments=experiments,
                    mlflow=mlflow, overrides={n: frozenset(s or {}) for n, s in raw_experiments.items()},
                    progress=progress)
    if data.dataset in FIXED_SIZE:
        check_image_size(params, FIXED_SIZE[data.dataset], f"{data.dataset} images are")
    elif data.dataset == "image-folder":
        check_image_size(params, data.image_size, "data.image_size is")
    return params


def check_image_size(params: Params, size, source: str) -> None:
    """Refuse, naming the key, an experiment whose model cannot take images of `size` (H, W); `source`
    says where the size comes from (idx-dir images have theirs, known once prepare reads them)."""
    h, w = size
    for name, exp in params.experiments.items():
        need = MIN_SIDE[exp.model]
        if min(h, w) < need:
            raise ParamsError(f"params.yaml: {params.where(name, 'model')} {exp.model} needs images of at least "
                              f"{need}x{need} pixels; {source} {h}x{w} (height x width)")


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path}: not found (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{where}") from None
    return parse_params(raw)
