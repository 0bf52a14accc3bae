"""The image-folder dataset: class folders of PNG/JPEG files become the four IDX files and dataset.json,
split by train/ and test/ folders or by a seeded stratified rule; bad files are refused or skipped, each
named on one line, and nothing half-written is left in data/raw. Property tests damage image files at random."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fmnist.data.idx import read_idx
from fmnist.data.sources import FILES, fetch_dataset
from fmnist.errors import DataError
from fmnist.params import Data


def image_bytes(seed: int, fmt: str, size=(30, 40), mode="RGB") -> bytes:
    """A real PNG or JPEG of random pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, format=fmt)
    return out.getvalue()


def make_tree(root: Path, counts: dict[str, int], start: int = 0) -> Path:
    """root/<class>/<i>.png|jpg, alternating PNG and JPEG."""
    for c, n in counts.items():
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            fmt = "PNG" if i % 2 else "JPEG"
            (root / c / f"{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}").write_bytes(image_bytes(start + i, fmt))
    return root


def fetch(source, raw, **kwargs) -> dict:
    return fetch_dataset(Data(dataset="image-folder", source=str(source), **kwargs), raw)


def load(raw: Path) -> dict:
    return {key: read_idx(raw / name) for key, name in FILES.items()}


def assert_clean(raw: Path) -> None:
    """data/raw holds no temp file and only whole IDX files."""
    assert not list(raw.glob("*.tmp"))
    for name in FILES.values():
        if (raw / name).exists():
            read_idx(raw / name)


# --- the two split rules ------------------------------------------------------------------------------

def test_a_seeded_stratified_split_of_class_folders(tmp_path):
    tree = make_tree(tmp_path / "pets", {"dog": 10, "cat": 20, "emu": 5})
    record = fetch(tree, tmp_path / "raw", image_size=[20, 36], test_fraction=0.2)
    assert record["id"] == "image-folder" and record["name"] == "pets" and record["synthetic"] is False
    assert record["classes"] == ["cat", "dog", "emu"]  # sorted folder names
    assert record["skipped"] == []
    a = load(tmp_path / "raw")
    assert a["train_images"].shape == (28, 20, 36) and a["test_images"].shape == (7, 20, 36)
    assert np.bincount(a["test_labels"], minlength=3).tolist() == [4, 2, 1]  # 20 % of each class
    assert np.bincount(a["train_labels"], minlength=3).tolist() == [16, 8, 4]
    # Shuffled: prepare validates on the last training images, which must not all be one class.
    assert len(set(a["train_labels"][-8:].tolist())) > 1
    again = fetch(tree, tmp_path / "raw2", image_size=[20, 36], test_fraction=0.2)
    assert again["files"] == record["files"]  # the same seed, the same bytes
    other = fetch(tree, tmp_path / "raw3", image_size=[20, 36], test_fraction=0.2, split_seed=1)
    assert other["files"] != record["files"]


def test_the_pixels_are_the_files_greyscale_at_the_size(tmp_path):
    (tmp_path / "t/a").mkdir(parents=True)
    (tmp_path / "t/b").mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "t/a/x.png")
    Image.fromarray(np.stack([pixels] * 3, -1)).save(tmp_path / "t/a/y.PNG")  # RGB, grey values; capital suffix
    Image.fromarray(255 - pixels).save(tmp_path / "t/b/z.png")
    Image.fromarray(pixels).convert("RGBA").save(tmp_path / "t/b/w.png")
    (tmp_path / "t/b/notes.txt").write_text("ignored")
    (tmp_path / "t/b/.hidden.png").write_bytes(b"ignored: hidden")
    fetch(tmp_path / "t", tmp_path / "raw", image_size=[32, 32], test_fraction=0.5)
    a = load(tmp_path / "raw")
    images = np.concatenate([a["train_images"], a["test_images"]])
    assert len(images) == 4
    assert sum(np.array_equal(x, pixels) for x in images) == 3 and sum(np.array_equal(x, 255 - pixels) for x in images) == 1


def test_train_and_test_folders_give_the_split(tmp_path):
    make_tree(tmp_path / "d/train", {"boot": 6, "shoe": 4})
    make_tree(tmp_path / "d/test", {"boot": 2, "shoe": 3}, start=100)
    record = fetch(tmp_path / "d", tmp_path / "raw", name="footwear")
    assert record["name"] == "footwear" and record["classes"] == ["boot", "shoe"]
    a = load(tmp_path / "raw")
    assert a["train_images"].shape == (10, 28, 28)
    assert np.bincount(a["train_labels"]).tolist() == [6, 4] and np.bincount(a["test_labels"]).tolist() == [2, 3]


def test_data_classes_sets_the_label_order(tmp_path):
    tree = make_tree(tmp_path / "t", {"a": 3, "b": 3})
    assert fetch(tree, tmp_path / "raw", classes=["b", "a"])["classes"] == ["b", "a"]
    with pytest.raises(DataError, match=r"data.classes \(a, c\) must name each class folder once \(found: a, b\)"):
        fetch(tree, tmp_path / "raw2", classes=["a", "c"])


# --- bad files and bad layouts ------------------------------------------------------------------------

def test_bad_files_are_refused_each_on_one_line_and_nothing_is_written(tmp_path, capsys):
    tree = make_tree(tmp_path / "t", {"a": 4, "b": 4})
    cut = (tree / "a/001.png").read_bytes()
    (tree / "a/001.png").write_bytes(cut[:len(cut) // 2])
    (tree / "b/empty.jpg").write_bytes(b"")
    with pytest.raises(DataError) as err:
        fetch(tree, tmp_path / "raw")
    assert str(err.value) == (f"{tree}: 2 image file(s) could not be decoded (listed above); fix or remove them, "
                              f"or set data.bad_files: skip to leave them out")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"error: {tree / 'a/001.png'}: damaged or truncated image (image file is truncated)",
                     f"error: {tree / 'b/empty.jpg'}: empty file, not an image"]
    assert not (tmp_path / "raw/dataset.json").exists()
    assert [p.name for p in (tmp_path / "raw").iterdir()] == []


def test_bad_files_are_skipped_and_listed_when_asked(tmp_path, capsys):
    tree = make_tree(tmp_path / "t", {"a": 4, "b": 4})
    (tree / "b/fake.png").write_text("<html>")
    record = fetch(tree, tmp_path / "raw", bad_files="skip", test_fraction=0.25)
    assert capsys.readouterr().err.splitlines() == [
        f"warning: {tree / 'b/fake.png'}: not an image (PNG or JPEG expected); skipped (data.bad_files: skip)"]
    assert record["skipped"] == [str(tree / "b/fake.png")]
    assert json.loads((tmp_path / "raw/dataset.json").read_text())["skipped"] == record["skipped"]
    a = load(tmp_path / "raw")
    assert len(a["train_labels"]) + len(a["test_labels"]) == 8


def test_a_refusal_keeps_the_previous_files_whole(tmp_path):
    tree = make_tree(tmp_path / "t", {"a": 4, "b": 4})
    fetch(tree, tmp_path / "raw")
    before = {n: (tmp_path / "raw" / n).read_bytes() for n in FILES.values()}
    (tree / "a/000.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(DataError):
        fetch(tree, tmp_path / "raw")
    assert {n: (tmp_path / "raw" / n).read_bytes() for n in FILES.values()} == before
    assert_clean(tmp_path / "raw")


@pytest.mark.parametrize("case, message", [
    ("no-folder", "data.source is not a folder (image-folder needs a folder of class folders)"),
    ("no-classes", "no class folders (expected"),
    ("empty-class", "class folder b holds no PNG or JPEG image"),
    ("train-only", "has a train/ folder but no test/ folder; give both, or neither"),
    ("test-class-not-in-train", "no training image of class c"),
    ("too-few-for-test", "no test images (every class has too few images to hold out data.test_fraction 0.2)"),
    ("all-skipped", "no training image of class b"),
])
def test_a_layout_that_cannot_make_a_dataset_is_one_line(tmp_path, case, message):
    root = tmp_path / "t"
    if case != "no-folder":
        root.mkdir()
    if case == "empty-class":
        make_tree(root, {"a": 3})
        (root / "b").mkdir()
    elif case == "train-only":
        make_tree(root / "train", {"a": 3})
    elif case == "test-class-not-in-train":
        make_tree(root / "train", {"a": 3, "b": 3})
        make_tree(root / "test", {"a": 1, "c": 1})
    elif case == "too-few-for-test":
        make_tree(root, {"a": 1, "b": 2})
    elif case == "all-skipped":
        make_tree(root, {"a": 3})
        (root / "b").mkdir()
        (root / "b/x.png").write_bytes(b"bad")
    with pytest.raises(DataError) as err:
        fetch(root, tmp_path / "raw", bad_files="skip")
    assert str(err.value).startswith(f"{root}: ") and message in str(err.value) and "\n" not in str(err.value)
    assert_clean(tmp_path / "raw")


# --- property tests: damaged image files -------------------------------------------------------------

def damage(data: bytes, how: str, where: float, value: int, extra: bytes) -> bytes:
    at = min(len(data) - 1, int(where * len(data)))
    if how == "truncate":
        return data[:at]
    if how == "extend":
        return data + extra
    return data[:at] + bytes([data[at] ^ (value or 1)]) + data[at + 1:]  # flip bits of one byte


DAMAGE = st.tuples(st.sampled_from(["truncate", "extend", "flip"]), st.floats(0, 1), st.integers(0, 255),
                   st.binary(min_size=1, max_size=64))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["PNG", "JPEG"]), damages=st.lists(DAMAGE, min_size=1, max_size=3),
       policy=st.sampled_from(["refuse", "skip"]))
def test_damaged_images_are_named_on_one_line_or_decoded(tmp_path_factory, fmt, damages, policy):
    """Truncated, extended or bit-flipped files: refused naming the file, or skipped and listed, or (when the
    damage leaves a decodable image) read; never a traceback, never a half-written file in data/raw."""
    import contextlib
    import io as _io

    tmp = tmp_path_factory.mktemp("damaged")
    tree = make_tree(tmp / "t", {"a": 3, "b": 3})
    victim = tree / "b" / f"victim.{'png' if fmt == 'PNG' else 'jpg'}"
    data = image_bytes(99, fmt, size=(24, 24))
    for how, where, value, extra in damages:
        data = damage(data, how, where, value, extra) or data[:1]
    victim.write_bytes(data)
    err = _io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            record = fetch(tree, tmp / "raw", bad_files=policy, test_fraction=0.3)
        except DataError as exc:
            record, fault = None, str(exc)
    lines = err.getvalue().splitlines()
    assert_clean(tmp / "raw")
    if record is None:  # refused: one line names the file, then one line sums up
        assert policy == "refuse" and "\n" not in fault
        assert len(lines) == 1 and lines[0].startswith(f"error: {victim}: ")
        assert not (tmp / "raw/dataset.json").exists()
        return
    a = load(tmp / "raw")
    total = len(a["train_labels"]) + len(a["test_labels"])
    if record["skipped"]:  # skipped: listed on one line and left out
        assert policy == "skip" and record["skipped"] == [str(victim)]
        assert len(lines) == 1 and lines[0].startswith(f"warning: {victim}: ") and total == 6
    else:  # the damage left an image PIL decodes
        assert lines == [] and total == 7
