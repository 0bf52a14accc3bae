"""Property-based: a valid params.yaml, mutated at random, is either accepted or refused in one line.

Each mutant is the repo's params.yaml with one to three changes: a key set to a value of any type
(NaN, infinities, None, huge or negative numbers, text, lists, mappings), a key deleted, a section
emptied, an unknown key added, a list written as a string. `load_params` must accept it or raise a
ParamsError whose message is one line naming a key; anything else is a bug. An accepted mutant's
experiment then trains one epoch on tiny data through the real training function.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fmnist.errors import FmnistError, ParamsError
from fmnist.params import LOSSES, MODELS, OPTIMIZERS, SCHEDULES, SPLITS, load_params

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
# A message names a key: a section, or a dotted path into one, or an unknown key by name.
NAMES_A_KEY = re.compile(r"\b(data|prepare|train|experiments|published|mlflow|progress)\b|unknown key ")
WORDS = ["", "nan", "inf", "null", "unit", "raw", "standard", "onehot", "sparse", "unit-sparse", "raw-onehot",
         "tiny", "asl", "resnet", "vgg", "cpu", "cuda", "auto", "adam", "sgd", "mse", "cross_entropy",
         "onecycle", "all", "train", "idx-dir", "synthetic", "0", "a\nb"]
KEYS = ["bogus", "model_config", "weight_decay", "dropout", "width", "epoch", "lr_", "augment", "crop", "seed"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-3, 70), st.sampled_from([2**31, 2**32, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1), st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(WORDS), st.text(max_size=8))
values = st.one_of(
    scalars, scalars,
    st.lists(st.sampled_from(WORDS) | st.integers(0, 3), max_size=3),
    st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2))


def paths(node, prefix=()):
    """Every key path of a nested mapping, sections included."""
    for key, value in node.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from paths(value, prefix + (key,))


def at(raw, path):
    """The mapping that holds `path`'s last key."""
    for key in path[:-1]:
        raw = raw[key]
    return raw


@st.composite
def mutants(draw):
    """(raw params, the dotted paths the mutation touched, an index to pick an experiment with)."""
    raw, touched = copy.deepcopy(BASE), []
    for _ in range(draw(st.integers(1, 3))):
        candidates = list(paths(raw))
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        node, key = at(raw, path), path[-1]
        op = draw(st.sampled_from(["set", "set", "delete", "empty", "unknown", "stringify", "nonfinite"]))
        if op == "nonfinite":  # NaN or an infinity where a number is (YAML .nan, .inf; -S key=nan)
            numbers = [p for p in candidates if type(at(raw, p)[p[-1]]) in (int, float)]
            if not numbers:
                continue
            path = draw(st.sampled_from(numbers))
            node, key = at(raw, path), path[-1]
            node[key] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        elif op == "set":
            node[key] = draw(values)
        elif op == "delete":
            del node[key]
        elif op == "empty":  # a section with nothing under it
            node[key] = draw(st.sampled_from([None, {}])) if isinstance(node[key], dict) else None
        elif op == "unknown":  # a key the schema may or may not know, in this section or beside it
            target = node[key] if isinstance(node[key], dict) else node
            new = draw(st.sampled_from(KEYS) | st.text(min_size=1, max_size=6))
            if new == "model_config":
                target[new] = draw(st.dictionaries(st.sampled_from(["width", "dropout", "depth"]), scalars,
                                                   max_size=2))
            else:
                target[new] = draw(values)
            path = path[:-1] + (new,) if target is node else path + (new,)
        elif op == "stringify":  # a string where a list (or anything else) is expected
            value = node[key]
            node[key] = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        touched.append(".".join(map(str, path)))
    return raw, touched, draw(st.integers(0, 1000))


# Values each experiment key could really take: mutants of these are mostly accepted, so they train.
VARIANTS = [f"{n}-{e}" for n in ("unit", "raw", "standard") for e in ("onehot", "sparse")]
PLAUSIBLE = {
    "model": st.sampled_from(MODELS), "variant": st.sampled_from(VARIANTS), "loss": st.sampled_from(LOSSES),
    "optimizer": st.sampled_from(OPTIMIZERS), "schedule": st.sampled_from(SCHEDULES),
    "train_split": st.sampled_from(SPLITS), "device": st.sampled_from(["cpu", "auto"]),
    "epochs": st.integers(1, 10**6), "batch_size": st.integers(1, 64), "eval_batch_size": st.integers(1, 10**6),
    "lr": st.floats(1e-6, 10), "weight_decay": st.floats(0, 1), "momentum": st.floats(0, 1),
    "label_smoothing": st.floats(0, 0.5), "seed": st.integers(0, 2**32 - 1),
    "tta": st.booleans(), "track_test": st.booleans(),
    "augment": st.fixed_dictionaries({}, optional={"crop": st.integers(0, 8), "flip": st.booleans(),
                                                   "erase": st.floats(0, 1)}),
    "model_config": st.fixed_dictionaries({}, optional={"dropout": st.floats(0, 0.9)}),
}


@st.composite
def plausible_mutants(draw):
    """The repo's params with one to four experiment keys (or train defaults) set to values of their
    own kind, or deleted: the mutants a user's edits make."""
    raw, touched = copy.deepcopy(BASE), []
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(["train", *(f"experiments.{n}" for n in BASE["experiments"])]))
        node = at(raw, tuple(section.split(".", 1)) + ("",))
        key = draw(st.sampled_from(sorted(PLAUSIBLE)))
        if draw(st.booleans()) or key not in node:
            node[key] = draw(PLAUSIBLE[key])
        else:
            del node[key]
        touched.append(f"{section}.{key}")
    return raw, touched, draw(st.integers(0, 1000))


@pytest.fixture(scope="module")
def params_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("params") / "params.yaml"


def load(raw, path: Path):
    """load_params on the mutant written as a params.yaml file."""
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return load_params(path)


def assert_one_line(exc: FmnistError):
    message = str(exc)
    assert "\n" not in message and message.startswith("params.yaml: "), message
    assert NAMES_A_KEY.search(message), message


def assert_well_typed(config, where="params"):
    """What load_params accepted holds what its fields declare: finite floats, ints that are not bools,
    strings, lists of strings, nested sections of their own kind."""
    import typing

    if isinstance(config, dict):
        for key, value in config.items():
            assert_well_typed(value, f"{where}.{key}")
        return
    hints = typing.get_type_hints(type(config))  # Annotated and Strict stripped: the plain types
    for f in dataclasses.fields(config):
        value, hint, path = getattr(config, f.name), hints[f.name], f"{where}.{f.name}"
        kinds = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType) \
            else (hint,)
        if dataclasses.is_dataclass(value) or (isinstance(value, dict) and f.name == "experiments"):
            assert_well_typed(value, path)
        elif value is None:
            assert type(None) in kinds, path
        elif isinstance(value, bool):
            assert bool in kinds, (path, value)
        elif isinstance(value, float):
            assert float in kinds and math.isfinite(value), (path, value)
        elif isinstance(value, int):
            assert int in kinds, (path, value)
        elif isinstance(value, str):
            assert str in kinds or any(typing.get_origin(k) is typing.Literal for k in kinds), (path, value)
        elif isinstance(value, list):
            assert any(typing.get_origin(k) is list for k in kinds), (path, value)


@settings(max_examples=250, deadline=None)
@given(mutants())
def test_a_mutant_is_accepted_or_refused_in_one_line(params_file, mutant):
    raw, _, _ = mutant
    try:
        params = load(raw, params_file)
    except ParamsError as exc:
        assert_one_line(exc)
    else:
        assert_well_typed(params)


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Every variant params.yaml can name, prepared from one tiny 3-class dataset."""
    from fmnist.data.idx import write_idx
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data

    root = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    (root / "idx").mkdir()
    for split, n in (("train", 48), ("t10k", 12)):
        write_idx(root / f"idx/{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"idx/{split}-labels-idx1-ubyte.gz", (np.arange(n) % 3).astype(np.uint8))
    fetch_dataset(Data(dataset="idx-dir", source=str(root / "idx")), root / "raw")
    for norm in ("unit", "raw", "standard"):
        for enc in ("onehot", "sparse"):
            prepare_variant(root / "raw", root / f"{norm}-{enc}", norm, enc, val_size=12)
    return root


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.filter_too_much,
                                                                 HealthCheck.too_slow])
@given(mutant=st.one_of(plausible_mutants(), mutants()))
def test_an_accepted_mutant_trains_one_epoch(variants, params_file, mutant):
    from fmnist.training import train_experiment

    raw, touched, pick = mutant
    try:
        params = load(raw, params_file)
    except ParamsError:
        assume(False)  # refusals are the test above's
    names = list(params.experiments)
    mutated = [n for n in names if any(t.startswith(f"experiments.{n}.") for t in touched)]
    name = (mutated or names)[pick % len(names) if not mutated else 0]
    # Shrunk to the tiny data as the end-to-end tests shrink params.yaml: one epoch, batches that fit 36
    # training images, and no torch.compile (minutes of compiling on a CPU, for one epoch).
    cfg = dataclasses.replace(params.experiments[name], epoch_limit=1, compile=False,
                              batch_size=min(params.experiments[name].batch_size, 16))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        try:
            final = train_experiment(name, cfg, variants / cfg.variant, out / "w.pt", out / "h.csv", out / "ck",
                                     progress=False)
        except FmnistError as exc:  # e.g. train.device cuda with none here, a model_config the model refuses
            assert_one_line(exc)
            return
    assert final["epoch"] == 1 and 0 <= final["val_acc"] <= 1


@pytest.mark.parametrize("model,config,message", [
    ("asl", {"width": 8}, "experiments.e.model_config.width: model asl takes no such option; it takes: none"),
    ("resnet", {"width": "wide"}, "experiments.e.model_config.width must be an integer, got 'wide'"),
    ("resnet", {"width": 8.5}, "experiments.e.model_config.width must be an integer, got 8.5"),
    ("tiny", {"dropout": math.nan}, "experiments.e.model_config.dropout must be a finite number, got nan"),
    ("tiny", {"dropout": None}, "experiments.e.model_config.dropout must be a finite number, got None"),
    ("resnet", {"width": 0}, "experiments.e.model_config.width must be >= 1, got 0"),
    ("tiny", {"dropout": 2}, "experiments.e.model_config.dropout must be <= 1, got 2"),
])
def test_model_config_faults_are_one_line_naming_the_option(variants, tmp_path, model, config, message):
    """model_config is free-form in params.yaml; the training function checks it against the model's options."""
    from fmnist.params import ExperimentSettings
    from fmnist.training import train_experiment

    cfg = ExperimentSettings(model=model, variant="unit-sparse", epochs=1, batch_size=8, device="cpu",
                             model_config=config)
    with pytest.raises(ParamsError) as err:
        train_experiment("e", cfg, variants / "unit-sparse", tmp_path / "w.pt", tmp_path / "h.csv", tmp_path / "ck",
                         progress=False)
    assert str(err.value).startswith("params.yaml: " + message) and "\n" not in str(err.value)
    assert not (tmp_path / "w.pt").exists()
