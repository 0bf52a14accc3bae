"""`fmnist predict`: real image files of every size and mode become 28x28 greyscale; bad files are
refused with a one-line error naming them, while the good files of the batch are still classified."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from fmnist.cli import main as fmnist
from fmnist.errors import DataError
from fmnist.predict import load_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny model trained for one epoch on 200 random images."""
    from fmnist.data.idx import write_idx
    from fmnist.data.prepare import prepare_variant
    from fmnist.data.sources import fetch_dataset
    from fmnist.params import Data, ExperimentSettings
    from fmnist.training import train_experiment

    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    (root / "idx").mkdir()
    for split, n in (("train", 200), ("t10k", 50)):
        write_idx(root / f"idx/{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(root / f"idx/{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    fetch_dataset(Data(dataset="idx-dir", source=str(root / "idx"), classes=[f"c{i}" for i in range(10)]),
                  root / "raw")
    prepare_variant(root / "raw", root / "unit-onehot", "unit", "onehot", 50)
    cfg = ExperimentSettings(model="tiny", variant="unit-onehot", loss="mse", optimizer="adam", epochs=1, batch_size=50,
                             device="cpu")
    train_experiment("tiny", cfg, root / "unit-onehot", root / "tiny.pt", root / "tiny.csv", root / "ck",
                     progress=False)
    return root / "tiny.pt"


def save(path, array, mode=None, **kwargs):
    Image.fromarray(array, mode).save(path, **kwargs) if mode else Image.fromarray(array).save(path, **kwargs)
    return path


# --- conversion -------------------------------------------------------------------------------------

def test_a_28x28_greyscale_png_is_kept_as_is(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    assert np.array_equal(load_image(save(tmp_path / "g.png", pixels)), pixels)


def test_a_large_rgb_jpeg_keeps_its_aspect_on_a_dark_ground(tmp_path):
    photo = np.zeros((480, 960, 3), np.uint8)
    photo[:, :, :] = (250, 250, 250)  # a wide bright object filling the photo
    x = load_image(save(tmp_path / "wide.jpg", photo, quality=90))
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x[:6].max() < 10 and x[-6:].max() < 10  # padded top and bottom: 960x480 fits as 28x14
    assert x[10:18].min() > 230


def test_invert_turns_a_dark_on_light_photo_into_light_on_dark(tmp_path):
    photo = np.full((300, 300), 255, np.uint8)
    photo[100:200, 100:200] = 0
    x = load_image(save(tmp_path / "photo.jpg", photo), invert=True)
    assert x[0, 0] < 10 and x[14, 14] > 245


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    pixels = np.zeros((28, 28), np.uint16)
    pixels[:, 14:] = 65535
    pixels[:, :14] = 32896  # mid grey in 16 bits
    path = tmp_path / "deep.png"
    Image.fromarray(pixels).save(path)
    assert Image.open(path).mode.startswith("I")
    x = load_image(path)
    assert x[0, 20] == 255 and 120 <= x[0, 5] <= 136


def test_rgba_transparency_is_background(tmp_path):
    rgba = np.zeros((56, 56, 4), np.uint8)  # fully transparent...
    rgba[14:42, 14:42] = (255, 255, 255, 255)  # ...around an opaque white square
    x = load_image(save(tmp_path / "cut.png", rgba, "RGBA"))
    assert x[0, 0] == 0 and x[14, 14] == 255
    dark = rgba.copy()
    dark[14:42, 14:42] = (0, 0, 0, 255)  # a dark object on transparency, as a product photo cut-out
    y = load_image(save(tmp_path / "dark.png", dark, "RGBA"), invert=True)
    assert y[0, 0] == 0 and y[14, 14] == 255


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK"])
def test_every_mode_becomes_28x28_uint8(tmp_path, mode):
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)).convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    image.save(path)
    x = load_image(path)
    assert x.shape == (28, 28) and x.dtype == np.uint8


def test_a_tiny_image_is_scaled_up(tmp_path):
    x = load_image(save(tmp_path / "dot.png", np.full((3, 5), 255, np.uint8)))
    assert x.shape == (28, 28) and x[14].min() > 200 and x[0].max() == 0


def test_a_4000x4000_image_converts_quickly(tmp_path):
    big = np.zeros((4000, 4000), np.uint8)
    big[1000:3000, 1000:3000] = 255
    png, jpg = save(tmp_path / "big.png", big, compress_level=1), save(tmp_path / "big.jpg", big)
    for path in (png, jpg):
        started = time.perf_counter()
        x = load_image(path)
        assert time.perf_counter() - started < 5
        assert x[14, 14] > 240 and x[1, 1] < 15


# --- bad input ---------------------------------------------------------------------------------------

def truncated_png(tmp_path):
    path = save(tmp_path / "cut.png", np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


BAD = {
    "text": (lambda p: (p / "notes.txt").write_text("not an image\n") and p / "notes.txt", "not an image"),
    "empty": (lambda p: (p / "empty.png").write_bytes(b"") or p / "empty.png", "empty file"),
    "directory": (lambda p: (p / "folder.png").mkdir() or p / "folder.png", "is a directory"),
    "truncated": (truncated_png, "damaged or truncated"),
    "missing": (lambda p: p / "absent.png", "no such file"),
    "png-named-text": (lambda p: (p / "fake.png").write_text("<html>") and p / "fake.png", "not an image"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_naming_it(tmp_path, case):
    make, reason = BAD[case]
    path = make(tmp_path)
    with pytest.raises(DataError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


# --- the command -------------------------------------------------------------------------------------

def test_predict_prints_class_and_probability(weights, tmp_path, capsys):
    from fmnist.served import load_served, normalise, predict_proba

    pixels = np.random.default_rng(3).integers(0, 256, (28, 28), dtype=np.uint8)
    path = save(tmp_path / "one.png", pixels)
    assert fmnist(["predict", str(path), "--model", str(weights), "--top", "3"]) == 0
    line = capsys.readouterr().out.strip()
    served, record = load_served(weights)
    probs = predict_proba(served, normalise(pixels[None], record))[0]
    best = np.argsort(-probs)[:3]
    assert line == f"{path}: " + ", ".join(f"c{i} {probs[i]:.3f}" for i in best)


def test_a_batch_with_a_bad_file_predicts_the_good_ones_and_exits_non_zero(weights, tmp_path, capsys):
    good = [save(tmp_path / "a.png", np.zeros((28, 28), np.uint8)),
            save(tmp_path / "b.jpg", np.full((90, 70, 3), 128, np.uint8))]
    bad = tmp_path / "c.txt"
    bad.write_text("hello")
    with pytest.raises(SystemExit) as exit_:
        fmnist(["predict", str(good[0]), str(bad), str(good[1]), "--model", str(weights)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines()] == [str(good[0]), str(good[1])]
    assert err.strip() == f"error: {bad}: not an image (PNG or JPEG expected)"


def test_a_missing_model_is_one_clear_line(tmp_path, capsys):
    image = save(tmp_path / "a.png", np.zeros((28, 28), np.uint8))
    with pytest.raises(SystemExit) as exit_:
        fmnist(["predict", str(image), "--model", str(tmp_path / "none.pt")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'none.pt'}: no such weights file (train it with dvc repro)"


def test_device_picks_where_the_model_runs_and_an_absent_one_is_one_line(weights, tmp_path, capsys):
    import torch

    image = save(tmp_path / "a.png", np.random.default_rng(4).integers(0, 256, (28, 28), dtype=np.uint8))
    assert fmnist(["predict", str(image), "--model", str(weights)]) == 0
    default = capsys.readouterr().out
    assert fmnist(["predict", str(image), "--model", str(weights), "--device", "cpu"]) == 0
    assert capsys.readouterr().out == default
    for device in ["tpu", "cuda:x"] + ([] if torch.cuda.is_available() else ["cuda"]):
        with pytest.raises(SystemExit) as exit_:
            fmnist(["predict", str(image), "--model", str(weights), "--device", device])
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.endswith(f"--device {device}: not a device here (cpu, cuda, cuda:N, mps or auto)")
