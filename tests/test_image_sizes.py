"""Any image size: every model on any H x W (8x8 to 64x64, square or not), the size recorded in the weights,
`fmnist predict` and the served model resizing to it, and a size a model cannot take refused in one line."""

from __future__ import annotations

import hashlib
import subprocess

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import BIN, ROOT
from fmnist.errors import ParamsError
from fmnist.models import MODELS, build_model, min_side
from fmnist.model_specs import SPECS
from fmnist.params import parse_params

SIZES = [(8, 8), (28, 28), (32, 32), (64, 64), (20, 36), (36, 20)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_on_any_size_it_takes(name, size):
    torch.manual_seed(0)
    if min(size) < min_side(name):
        with pytest.raises(ValueError, match=f"model {name} needs images of at least 15x15 pixels, got "
                                             f"{size[0]}x{size[1]}"):
            build_model(name, num_classes=5, input_size=size)
        return
    model = build_model(name, num_classes=5, input_size=size, **({"width": 8} if name == "resnet" else {}))
    x, y = torch.rand(6, 1, *size), torch.arange(6) % 5
    loss = torch.nn.functional.cross_entropy(model.train()(x), y)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (6, 5) and torch.isfinite(out).all()


def test_tiny_takes_15_pixels_a_side_and_no_fewer():
    assert set(SPECS) == set(MODELS)  # every model is declared where params are checked without torch
    assert all(min_side(name) == SPECS[name].min_side == MODELS[name].min_side for name in MODELS)
    assert build_model("tiny", input_size=(15, 40))(torch.rand(2, 1, 15, 40)).shape == (2, 10)
    for size in ((14, 40), (40, 14)):
        with pytest.raises(ValueError, match="at least 15x15"):
            build_model("tiny", input_size=size)


# sha256 of the state_dict bytes of each model built at seed 0, computed before input sizes existed:
# the default 28x28 models are created layer for layer, draw for draw, as before.
WEIGHTS_28 = {"tiny": "8cc698ec661c92e0", "asl": "8053a4fe7fc4e8fb", "resnet": "4ec210c36ab58535"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_28x28_models_are_bit_identical_to_before(name):
    for kwargs in ({}, {"input_size": (28, 28)}):
        torch.manual_seed(0)
        state = build_model(name, **kwargs).state_dict()
        digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()[:16]
        assert digest == WEIGHTS_28[name]


def test_input_size_is_not_a_model_option():
    """The size comes from the data, never from model_config."""
    from fmnist.models import model_options

    assert all("input_size" not in model_options(name) for name in MODELS)
    raw = params_with()
    raw["experiments"]["resnet"]["model_config"] = {"input_size": [32, 32]}
    with pytest.raises(ParamsError, match=r"^params.yaml: experiments.resnet.model_config.input_size: the input "
                                          r"size comes from the images"):
        parse_params(raw)


# --- refusals before any training --------------------------------------------------------------------

def params_with(**data):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(data)
    return raw


def test_check_params_refuses_an_image_size_a_model_cannot_take(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params_with(dataset="image-folder", source="imgs", image_size=[8, 12])))
    proc = subprocess.run([str(BIN / "fmnist"), "check-params", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("error: params.yaml: experiments.seed000.model tiny needs images of at least 15x15 "
                           "pixels; data.image_size is 8x12 (height x width)\n")
    raw = params_with(dataset="image-folder", source="imgs", image_size=[8, 12])
    raw["experiments"] = {k: v for k, v in raw["experiments"].items() if v["model"] != "tiny"}
    assert parse_params(raw).data.image_size == [8, 12]  # asl and resnet take 8x12


@pytest.mark.parametrize("value", [[0, 28], [28], [28, 28, 1], "28x28", [28.0, 28], [True, 28], [28, 513], None])
def test_a_bad_image_size_is_one_line_naming_the_key(value):
    with pytest.raises(ParamsError) as err:
        parse_params(params_with(dataset="image-folder", source="imgs", image_size=value))
    assert str(err.value).startswith("params.yaml: data.image_size must be [height, width] in pixels")
    assert "\n" not in str(err.value)


@pytest.fixture
def small_idx_dir(tmp_path):
    """IDX files of 8x8 images: too small for tiny."""
    from fmnist.data.idx import write_idx

    folder = tmp_path / "small"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 2).astype(np.uint8))
    return folder


def test_prepare_refuses_idx_images_too_small_for_a_model_before_writing(small_idx_dir, tmp_path, env_with_venv):
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data

    fetch_dataset(Data(dataset="idx-dir", source=str(small_idx_dir)), tmp_path / "raw")
    raw = params_with(dataset="idx-dir", source=str(small_idx_dir))
    raw["prepare"]["val_size"] = 10
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([str(BIN / "python"), str(ROOT / "stages/prepare.py"), "unit-onehot", "--params",
                           str(tmp_path / "params.yaml"), "--raw", str(tmp_path / "raw"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env_with_venv)
    assert proc.returncode == 2
    assert proc.stderr == (f"error: params.yaml: experiments.seed000.model tiny needs images of at least 15x15 "
                           f"pixels; {tmp_path / 'raw'} holds 8x8 (height x width)\n")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


def test_train_refuses_a_model_changed_after_prepare(small_idx_dir, tmp_path):
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data, ExperimentSettings
    from fmnist.training import train_experiment

    fetch_dataset(Data(dataset="idx-dir", source=str(small_idx_dir)), tmp_path / "raw")
    prepare_variant(tmp_path / "raw", tmp_path / "v", "unit", "sparse", 10)
    cfg = ExperimentSettings(model="tiny", variant="unit-sparse", epochs=1, batch_size=10, device="cpu")
    with pytest.raises(ParamsError, match=r"^params.yaml: model tiny of experiment e needs images of at least "
                                          r"15x15 pixels; .*v holds 8x8 \(height x width\)$"):
        train_experiment("e", cfg, tmp_path / "v", tmp_path / "e.pt", tmp_path / "e.csv", tmp_path / "ck",
                         progress=False)
    assert not (tmp_path / "e.pt").exists()


# --- the weights record the size; predict and the served model resize to it --------------------------

@pytest.fixture(scope="module")
def wide_weights(tmp_path_factory):
    """asl trained one epoch on 20x36 images (height x width)."""
    from fmnist.data.idx import write_idx
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data, ExperimentSettings
    from fmnist.training import train_experiment

    root = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    (root / "idx").mkdir()
    for split, n in (("train", 120), ("t10k", 30)):
        write_idx(root / f"idx/{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 20, 36), dtype=np.uint8))
        write_idx(root / f"idx/{split}-labels-idx1-ubyte.gz", (np.arange(n) % 3).astype(np.uint8))
    fetch_dataset(Data(dataset="idx-dir", source=str(root / "idx"), classes=["a", "b", "c"]), root / "raw")
    prepare_variant(root / "raw", root / "unit-sparse", "unit", "sparse", 30)
    cfg = ExperimentSettings(model="asl", variant="unit-sparse", epochs=1, batch_size=30, device="cpu")
    train_experiment("asl", cfg, root / "unit-sparse", root / "asl.pt", root / "asl.csv", root / "ck", progress=False)
    return root / "asl.pt"


def test_weights_record_the_input_size(wide_weights):
    from fmnist.served import load_model

    record = torch.load(wide_weights, weights_only=True)
    assert record["input_size"] == [20, 36]
    model, _ = load_model(wide_weights)
    assert model(torch.rand(2, 1, 20, 36)).shape == (2, 3)


def test_predict_fits_an_image_to_the_trained_size(wide_weights, tmp_path, capsys):
    from fmnist.cli import main as fmnist
    from fmnist.served import load_served, normalise, predict_proba
    from fmnist.predict import load_image

    photo = np.zeros((100, 100, 3), np.uint8)
    photo[20:80, 20:80] = 255
    path = tmp_path / "square.png"
    Image.fromarray(photo).save(path)
    pixels = load_image(path, size=(20, 36))
    assert pixels.shape == (20, 36)
    assert pixels[:, :8].max() == 0 and pixels[:, -8:].max() == 0  # a square fits 20x20, centred
    assert pixels[10, 18] == 255
    assert fmnist(["predict", str(path), "--model", str(wide_weights)]) == 0
    served, weights = load_served(wide_weights)
    probs = predict_proba(served, normalise(pixels[None], weights))[0]
    best = int(np.argmax(probs))
    assert capsys.readouterr().out.strip() == f"{path}: {'abc'[best]} {probs[best]:.3f}"


def test_the_served_model_resizes_any_input_to_the_trained_size(wide_weights):
    from fmnist.served import load_served, normalise, predict_proba

    served, weights = load_served(wide_weights)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 20, 36)).astype(np.uint8)
    with torch.inference_mode():
        same = served(torch.from_numpy(pixels[:, None].astype(np.float32))).numpy()
        other = served(torch.rand(2, 1, 64, 48) * 255).numpy()
    assert np.allclose(same, predict_proba(served, normalise(pixels, weights)), atol=1e-6)  # identity at 20x36
    assert other.shape == (2, 3) and np.allclose(other.sum(1), 1, atol=1e-5)


def test_the_logged_model_takes_any_size_and_predict_resizes_for_it(wide_weights, tmp_path, monkeypatch, capsys):
    """log_model exports the graph with a dynamic height and width; `fmnist predict --model runs:/...`
    fits images to the size in the model's metadata and agrees with the weights file."""
    import mlflow

    from fmnist.cli import main as fmnist
    from fmnist.tracking.model import log_model

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    client = mlflow.MlflowClient(uri)
    run = client.create_run(client.create_experiment("sizes", artifact_location=str(tmp_path / "art")))
    tags = log_model(client, run.info.run_id, wide_weights, register=False)
    loaded = mlflow.pyfunc.load_model(tags["model.uri"])
    assert loaded.metadata.metadata["input_size"] == [20, 36]
    for shape in ((2, 1, 20, 36), (1, 1, 28, 28), (3, 1, 64, 64)):
        probs = np.asarray(loaded.predict(np.random.default_rng(2).integers(0, 256, shape).astype(np.float32)))
        assert probs.shape == (shape[0], 3) and np.allclose(probs.sum(1), 1, atol=1e-5)

    image = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (50, 70), dtype=np.uint8)).save(image)
    assert fmnist(["predict", str(image), "--model", tags["model.uri"], "--top", "3"]) == 0
    assert fmnist(["predict", str(image), "--model", str(wide_weights), "--top", "3"]) == 0
    served, local = capsys.readouterr().out.strip().splitlines()
    assert served == local
