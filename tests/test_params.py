"""params.yaml validation: every fault is one line naming the key, before any work."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fmnist import models
from fmnist.errors import ParamsError
from fmnist.params import MODELS, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path: str, value):
    """The repo's params with one key set (dotted path); value DELETE removes it."""
    raw = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return raw


def test_repo_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert set(params.experiments) == {"seed000", "seed003-unit-onehot", "seed003-unit-sparse",
                                       "seed003-raw-onehot", "seed003-raw-sparse", "resnet", "quick"}
    assert params.experiments["seed003-raw-sparse"].epochs == 10
    assert params.experiments["seed003-unit-onehot"].epochs == 20  # the train: default
    assert params.experiments["seed000"].batch_size == 1000
    assert params.prepare.variants == ["unit-onehot", "unit-sparse", "raw-onehot", "raw-sparse",
                                       "standard-onehot", "standard-sparse"]
    assert params.published["seed003-unit-sparse"] == 0.9163 and params.published["seed000"] is None


def test_model_names_match_the_registry():
    assert set(MODELS) == set(models.MODELS)


def test_experiment_overrides_train_defaults():
    params = parse_params(with_change("train.epochs", 7))
    assert params.experiments["seed003-unit-onehot"].epochs == 7  # follows the default
    assert params.experiments["seed000"].epochs == 300  # pins its own
    assert params.where("seed000", "epochs") == "experiments.seed000.epochs"
    assert params.where("seed003-unit-onehot", "epochs") == "train.epochs"


BAD = [
    ("train.epochs", 0, "params.yaml: train.epochs must be >= 1, got 0"),
    ("train.bogus", 1, "params.yaml: unknown key train.bogus; allowed: model, variant"),
    ("bogus", 1, "params.yaml: unknown key bogus; allowed: data, prepare"),
    ("train.epochs", "ten", "params.yaml: train.epochs must be an integer, got 'ten'"),
    ("train.epochs", 2.5, "params.yaml: train.epochs must be an integer, got 2.5"),
    ("train.batch_size", 0, "params.yaml: train.batch_size must be >= 1, got 0"),
    ("train.lr", 0, "params.yaml: train.lr must be > 0, got 0"),
    ("train.lr", -0.1, "params.yaml: train.lr must be > 0, got -0.1"),
    ("train.compile", "yes", "params.yaml: train.compile must be true or false, got 'yes'"),
    ("train.device", "tpu", "params.yaml: train.device must be one of auto, cpu, cuda, cuda:N, mps; got 'tpu'"),
    ("train.device", "cuda:x", "params.yaml: train.device must be one of auto, cpu, cuda, cuda:N, mps; got 'cuda:x'"),
    ("progress", "sometimes", "params.yaml: progress must be auto, true or false; got 'sometimes'"),
    ("experiments.resnet.model", "vgg", "params.yaml: experiments.resnet.model must be one of tiny, asl, resnet"),
    ("experiments.resnet.optimizer", "lion", "params.yaml: experiments.resnet.optimizer must be one of adam, keras_rmsprop, rmsprop, adamw, sgd; got 'lion'"),
    ("experiments.resnet.loss", "hinge", "params.yaml: experiments.resnet.loss must be one of mse, cross_entropy; got 'hinge'"),
    ("experiments.resnet.variant", "unit-hot", "params.yaml: experiments.resnet.variant must be a variant that prepare builds"),
    ("prepare.normalisations", ["unit", "minmax"], "params.yaml: prepare.normalisations must be one of unit, raw, standard; got 'minmax'"),
    ("prepare.encodings", [], "params.yaml: prepare.encodings must list at least one of onehot, sparse"),
    ("experiments.seed003-raw-sparse.loss", "mse", "params.yaml: experiments.seed003-raw-sparse.loss mse needs one-hot labels"),
    ("data.dataset", "cifar", "params.yaml: data.dataset must be one of fashion-mnist, mnist, fashion-mnist-sample, synthetic, idx-dir, image-folder; got 'cifar'"),
    ("data.synthetic.train", 5, "params.yaml: data.synthetic.train must be >= 10, got 5"),
    ("train.augment", {"crop": 9}, "params.yaml: train.augment.crop must be <= 8, got 9"),
    ("experiments.resnet.augment", {"rotate": 1}, "params.yaml: unknown key experiments.resnet.augment.rotate"),
    ("train.label_smoothing", 0.9, "params.yaml: train.label_smoothing must be <= 0.5, got 0.9"),
    ("experiments.resnet.train_split", "test", "params.yaml: experiments.resnet.train_split must be one of train, all"),
    ("data.retries", 0, "params.yaml: data.retries must be >= 1, got 0"),
    ("published.seed000", 92.05, "params.yaml: published.seed000 must be <= 1, got 92.05"),
    ("published.seed000", "high", "params.yaml: published.seed000 must be a number or null, got 'high'"),
    ("published.a b", 0.9, "params.yaml: published.'a b': an experiment name may hold only letters"),
    ("published", [0.9], "params.yaml: published must be a mapping of experiment name -> test accuracy"),
    # model_config is checked against each model's own options, at the path where it is set
    ("train.model_config", {"dropout": 0.1}, "params.yaml: train.model_config.dropout: model asl takes no such option"),
    ("experiments.resnet.model_config", {"width": "wide"},
     "params.yaml: experiments.resnet.model_config.width must be an integer, got 'wide'"),
    ("experiments.resnet.model_config", {"width": 0},
     "params.yaml: experiments.resnet.model_config.width must be >= 1, got 0"),
]


@pytest.mark.parametrize("path,value,message", BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_bad_params_name_the_key(path, value, message):
    with pytest.raises(ParamsError) as err:
        parse_params(with_change(path, value))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_device_takes_a_gpu_index_and_progress_a_switch():
    assert parse_params(with_change("experiments.resnet.device", "cuda:1")).experiments["resnet"].device == "cuda:1"
    assert parse_params(BASE).progress == "auto"
    assert parse_params(with_change("progress", False)).progress is False


def test_cross_section_checks():
    raw = with_change("data.dataset", "synthetic")
    raw["data"]["synthetic"]["train"] = 1000
    with pytest.raises(ParamsError, match=r"prepare.val_size must be < data.synthetic.train \(1000\), got 12000"):
        parse_params(raw)
    raw = with_change("prepare.normalisations", ["unit"])
    with pytest.raises(ParamsError, match="experiments.seed003-raw-onehot.variant must be a variant that prepare builds"):
        parse_params(raw)
    with pytest.raises(ParamsError, match="data.source must name the folder"):
        parse_params(with_change("data.dataset", "idx-dir"))


def test_bad_yaml_and_missing_file(tmp_path):
    (tmp_path / "params.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="params.yaml: not valid YAML at line"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_stage_exits_non_zero_with_one_line(tmp_path, env_with_venv):
    """A stage given bad params prints one line and exits 2, before touching any output."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(with_change("train.epochs", 0)))
    out = tmp_path / "raw"
    proc = subprocess.run([sys.executable, str(ROOT / "stages/download.py"), "--params",
                           str(tmp_path / "params.yaml"), "--out", str(out)],
                          capture_output=True, text=True, env=env_with_venv)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: params.yaml: train.epochs must be >= 1, got 0"
    assert not out.exists()


@pytest.mark.parametrize("stage", ["download", "describe", "prepare", "train", "evaluate", "report"])
def test_stage_without_the_package_says_how_to_get_it(stage, tmp_path):
    """`dvc repro` under a Python without the project installed: one line naming the fix, exit 2."""
    proc = subprocess.run([sys.executable, "-S", str(ROOT / "stages" / f"{stage}.py")],  # -S: no site-packages
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: the fmnist package is not installed")
    assert ". .venv/bin/activate" in proc.stderr and "make install" in proc.stderr


def float_keys(cls, path: str) -> list[str]:
    """Every key of a params dataclass whose value is a number (nested sections included)."""
    import dataclasses
    import typing

    keys = []
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        if dataclasses.is_dataclass(hint):
            keys += float_keys(hint, f"{path}.{name}")
        elif float in typing.get_args(hint) or hint is float:
            keys.append(f"{path}.{name}")
    return keys


def _schema():
    from fmnist.params import Data, ExperimentSettings, Mlflow, Prepare

    return [*float_keys(Data, "data"), *float_keys(Prepare, "prepare"), *float_keys(ExperimentSettings, "train"),
            *float_keys(Mlflow, "mlflow")]


FLOAT_KEYS = _schema()


def test_every_float_key_is_checked_here():
    assert FLOAT_KEYS == ["data.test_fraction", "data.timeout", "train.lr", "train.weight_decay", "train.momentum",
                          "train.label_smoothing", "train.augment.erase"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("path", FLOAT_KEYS)
def test_float_keys_refuse_nan_and_infinities(path, value):
    raw = with_change(path, value)
    if path == "train.augment.erase":
        raw = with_change("train.augment", {"erase": value})
    with pytest.raises(ParamsError) as err:
        parse_params(raw)
    assert str(err.value) == f"params.yaml: {path} must be a finite number, got {value}"


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.inf", ".Inf"])
def test_yaml_nan_and_inf_are_refused_in_one_line(tmp_path, text):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("lr: 0.001", f"lr: {text}"))
    with pytest.raises(ParamsError, match=r"^params.yaml: train.lr must be a finite number, got (nan|inf|-inf)$"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("override,message", [
    ("train.lr=nan", "train.lr must be a finite number, got nan"),
    ("experiments.resnet.momentum=inf", "experiments.resnet.momentum must be a finite number, got inf"),
    ("data.timeout=-inf", "data.timeout must be a finite number, got -inf"),
    ("experiments.resnet.augment.erase=nan", "experiments.resnet.augment.erase must be a finite number, got nan"),
])
def test_set_param_nan_is_refused_in_one_line(tmp_path, override, message):
    """`dvc exp run -S key=nan` writes params.yaml through DVC's own override code (Hydra's grammar reads
    nan and inf as floats); the result is refused like any other bad value."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(path, [override])
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(err.value) == "params.yaml: " + message


def test_check_params_command_refuses_nan(tmp_path, env_with_venv):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("lr: 0.001", "lr: .nan"))
    proc = subprocess.run([sys.executable, "-m", "fmnist.cli", "check-params", str(tmp_path / "params.yaml")],
                          capture_output=True, text=True, env=env_with_venv)
    assert proc.returncode == 2
    assert proc.stderr == "error: params.yaml: train.lr must be a finite number, got nan\n"


def test_checking_params_imports_no_torch():
    """Every stage loads params: the models' options are declared without torch (fmnist.model_specs), so
    checking quick's model_config costs no torch import (about 1.6 s) in the stages that need none."""
    code = ("import sys; from fmnist.params import load_params; p = load_params(sys.argv[1]); "
            "assert p.experiments['quick'].model_config, 'the repo params check a model_config'; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "params.yaml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
