"""params.yaml as one typed, validated config.

Every stage calls `load_params()` first: an unknown key, a wrong type or an out-of-range value
raises `ParamsError` with a one-line message naming the key, before any work is done.
The `train:` section holds defaults; each entry of `experiments:` overrides any of them.
Each key of a section is declared once, in fmnist.params_schema: its type, default and rule.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pydantic

from fmnist.data.classes import NAMED as NAMED_CLASSES
from fmnist.data.kinds import KINDS
from fmnist.errors import ParamsError
from fmnist.model_specs import SPECS, check_config
from fmnist.params_validation import key_name, refusal, show, validated
from fmnist.params_yaml import read_yaml
from fmnist.params_schema import (BAD_FILES, DATASETS, ENCODINGS, LOSSES, MODELS, NORMALISATIONS,  # noqa: F401
                                  OPTIMIZERS, SCHEDULES, SPLITS, Augment, Data, Distributed, Mlflow, Prepare,
                                  Synthetic, ExperimentSettings)

SECTIONS = ("data", "prepare", "train", "experiments", "published", "mlflow", "progress")  # the top level
EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][\w.-]*")  # it names files and DVC stages


@pydantic.dataclasses.dataclass(config=pydantic.ConfigDict(allow_inf_nan=False))
class _Published:
    """The rule of each value under published: a fraction, or null where the notebook printed none."""
    figure: Optional[typing.Annotated[float, pydantic.Field(strict=True, ge=0, le=1)]]

    @classmethod
    def validate(cls, value, where: str) -> float | None:
        try:
            return pydantic.TypeAdapter(cls).validate_python({"figure": value}).figure
        except pydantic.ValidationError as exc:
            error = {**exc.errors(include_url=False)[0], "loc": ()}
            hint = typing.get_type_hints(cls, include_extras=True)["figure"]
            raise refusal(error, where, cls, value, hint=hint) from None


@dataclass(frozen=True)
class Params:
    data: Data
    prepare: Prepare
    train: ExperimentSettings
    experiments: dict[str, ExperimentSettings]
    mlflow: Mlflow
    progress: str | bool = "auto"  # progress bars: auto (on a terminal only) | true | false; no stage's dep
    overrides: dict[str, frozenset] = field(default_factory=dict)  # keys each experiment sets itself
    # experiment -> the test accuracy its seed notebook printed (a fraction), None where it printed none;
    # shown beside ours by the report (PUBLISHED_FIGURE is the rule of each value)
    published: dict[str, float | None] = field(default_factory=dict)

    def where(self, experiment: str, key: str) -> str:
        """The params.yaml path that sets `key` for `experiment`, for error messages."""
        own = self.overrides.get(experiment, frozenset())
        return f"experiments.{experiment}.{key}" if key in own else f"train.{key}"

    def experiment(self, name: str) -> ExperimentSettings:
        if name not in self.experiments:
            raise ParamsError(
                f"params.yaml: experiments has no '{name}'; choose one of: {', '.join(self.experiments)}"
            )
        return self.experiments[name]


def parse_params(raw: Any) -> Params:
    """Validate a params mapping (as read from params.yaml) and return the typed config."""
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: the top level must be a mapping")
    for key in raw:
        if key not in SECTIONS:
            raise ParamsError(f"params.yaml: unknown key {key_name(key)}; allowed: {', '.join(SECTIONS)}")
    progress = raw.get("progress", "auto")
    if progress not in ("auto", True, False):
        raise ParamsError(f"params.yaml: progress must be auto, true or false; got {show(progress)}")

    data = validated(Data, raw.get("data"), "data")
    prepare = validated(Prepare, raw.get("prepare"), "prepare")
    train = validated(ExperimentSettings, raw.get("train"), "train")
    defaults = raw.get("train") or {}
    mlflow = validated(Mlflow, raw.get("mlflow"), "mlflow")
    data = _checked_against_prepare(data, prepare)

    entries = _experiment_entries(raw.get("experiments"))
    experiments = {name: _experiment(name, settings, defaults, prepare) for name, settings in entries.items()}
    params = Params(data=data, prepare=prepare, train=train, experiments=experiments,
                    mlflow=mlflow, overrides={n: frozenset(s or {}) for n, s in entries.items()},
                    progress=progress, published=_published(raw.get("published")))
    if KINDS[data.dataset].size:
        check_image_size(params, KINDS[data.dataset].size, f"{data.dataset} images are")
    elif data.dataset == "image-folder":
        check_image_size(params, data.image_size, "data.image_size is")
    return params


def _checked_against_prepare(data: Data, prepare: Prepare) -> Data:
    """`data` with a named class list resolved, once it names the folder its dataset needs and has more
    training images than prepare holds out for validation."""
    if isinstance(data.classes, str):  # a named list: fashion-mnist, mnist
        data = dataclasses.replace(data, classes=NAMED_CLASSES[data.classes])
    if KINDS[data.dataset].source and not data.source:
        raise ParamsError(f"params.yaml: data.source must name {KINDS[data.dataset].source} when data.dataset is "
                          f"{data.dataset}")
    if data.dataset == "synthetic" and prepare.val_size >= data.synthetic.train:
        raise ParamsError(
            f"params.yaml: prepare.val_size must be < data.synthetic.train ({data.synthetic.train}), "
            f"got {prepare.val_size}")
    return data


def _experiment_entries(raw: Any) -> dict:
    """The `experiments:` mapping: one entry at least, each under a name that can name files and stages."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: experiments must be a mapping of name -> settings")
    if not raw:
        raise ParamsError("params.yaml: experiments names no experiment; add one (its model and variant)")
    return raw


def _experiment(name, settings: Any, defaults: dict, prepare: Prepare) -> ExperimentSettings:
    """One experiment's effective settings: its own checked keys over the `train:` defaults."""
    path = f"experiments.{key_name(name)}"
    if not (isinstance(name, str) and EXPERIMENT_NAME.fullmatch(name)):
        raise ParamsError(f"params.yaml: experiment name {key_name(name)} may hold only letters, digits, "
                          "'_', '.' and '-' (it names files and DVC stages)")
    validated(ExperimentSettings, settings, path, complete=False)  # its own keys, refused at their own path
    own = settings or {}
    merged = {**defaults, **own}
    for nested in ("augment", "distributed"):  # a partial section overrides key by key
        if nested in defaults and nested in own:
            merged[nested] = {**defaults[nested], **own[nested]}
    exp = validated(ExperimentSettings, merged, path, complete=False)
    _check_experiment(exp, path, lambda key: path + "." + key if key in own else "train." + key, prepare)
    return exp


def _check_experiment(exp: ExperimentSettings, path: str, where, prepare: Prepare) -> None:
    """The rules between an experiment's keys; `where(key)` is the params.yaml path that sets `key`."""
    if exp.model is None:
        raise ParamsError(f"params.yaml: {path}.model is missing; choose one of: {', '.join(MODELS)}")
    if exp.variant is None:
        raise ParamsError(f"params.yaml: {path}.variant is missing; choose one of: "
                          f"{', '.join(prepare.variants)}")
    if exp.variant not in prepare.variants:
        raise ParamsError(
            f"params.yaml: {where('variant')} must be a variant that prepare builds "
            f"({', '.join(prepare.variants)}); got {show(exp.variant)}")
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
    check_config(exp.model, exp.model_config, where("model_config"))  # the options declared in model_specs


def _published(raw: Any) -> dict[str, float | None]:
    """`published:` experiment name -> the test accuracy its seed notebook printed (0 to 1), or null for none.
    A name need not be among `experiments:` (a params file may keep some experiments only)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: published must be a mapping of experiment name -> test accuracy "
                          f"(0 to 1) or null, got {type(raw).__name__}")
    figures = {}
    for name, value in raw.items():
        where = f"published.{key_name(name)}"
        if not (isinstance(name, str) and EXPERIMENT_NAME.fullmatch(name)):
            raise ParamsError(f"params.yaml: {where}: an experiment name may hold only letters, digits, "
                              "'_', '.' and '-'")
        figures[name] = _Published.validate(value, where)
    return figures


def check_image_size(params: Params, size, source: str) -> None:
    """Refuse, naming the key, an experiment whose model cannot take images of `size` (H, W); `source`
    says where the size comes from (idx-dir images have theirs, known once prepare reads them)."""
    h, w = size
    for name, exp in params.experiments.items():
        need = SPECS[exp.model].min_side
        if min(h, w) < need:
            raise ParamsError(f"params.yaml: {params.where(name, 'model')} {exp.model} needs images of at least "
                              f"{need}x{need} pixels; {source} {h}x{w} (height x width)")


def load_params(path: str | Path = "params.yaml") -> Params:
    """params.yaml read as DVC reads it (fmnist.params_yaml), then validated."""
    return parse_params(read_yaml(path))
