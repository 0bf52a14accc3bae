"""Property-based: damaged IDX files, gz or plain, through the idx-dir download path.

One of the four files of a small valid dataset is truncated, extended or has bytes flipped (one to
three such changes). Downloading the folder must either succeed, with a readable dataset, or fail with
a DataError of one line naming the damaged file; nothing else. Either way data/raw holds only whole
files afterwards: no temp file, every IDX file readable, dataset.json only after a success.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist.data.idx import read_idx, write_idx
from fmnist.data.sources import FILES, fetch_dataset
from fmnist.files import md5sum
from fmnist.errors import DataError
from fmnist.params import Data

NAMES = list(FILES.values())


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A valid 3-class dataset: 12 training and 6 test images of 28x28, as gz files."""
    folder = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 6)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 3).astype(np.uint8))
    return folder


@st.composite
def damage(draw):
    """(file name, plain or gz, the changes): each change a truncation, an extension or a flipped byte,
    at a position drawn as a fraction of the file's length (so it applies to any length)."""
    name = draw(st.sampled_from(NAMES))
    plain = draw(st.booleans())
    changes = draw(st.lists(st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
        st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255))), min_size=1, max_size=3))
    return name, plain, changes, draw(st.booleans())


def apply(blob: bytes, changes) -> bytes:
    data = bytearray(blob)
    for change in changes:
        if change[0] == "truncate":
            del data[int(change[1] * len(data)):]
        elif change[0] == "extend":
            data += change[1]
        elif data:
            data[int(change[1] * len(data))] ^= change[2]
    return bytes(data)


def assert_only_whole_files(raw: Path, succeeded: bool):
    assert not [p for p in raw.iterdir() if p.name.endswith(".tmp")]
    for name in NAMES:
        if (raw / name).exists():
            read_idx(raw / name)  # a whole IDX file, or this raises
    assert (raw / "dataset.json").exists() == succeeded


@settings(max_examples=150, deadline=None)
@given(case=damage())
def test_a_damaged_idx_file_is_read_or_refused_in_one_line(good, case):
    name, plain, changes, earlier = case
    with tempfile.TemporaryDirectory() as tmp:
        source, raw = Path(tmp) / "source", Path(tmp) / "raw"
        source.mkdir()
        if earlier:  # data/raw already holds a good download, as after an earlier run
            fetch_dataset(Data(dataset="idx-dir", source=str(good)), raw)
        for n in NAMES:
            blob = (good / n).read_bytes()
            if plain:
                blob = gzip.decompress(blob)
            target = source / (n.removesuffix(".gz") if plain else n)
            target.write_bytes(apply(blob, changes) if n == name else blob)
        try:
            record = fetch_dataset(Data(dataset="idx-dir", source=str(source)), raw)
        except DataError as exc:
            message = str(exc)
            assert "\n" not in message
            damaged = source / (name.removesuffix(".gz") if plain else name)
            assert message.startswith((f"{damaged}: ", f"{raw / name}: ")), message  # names the damaged file
            assert_only_whole_files(raw, succeeded=False)
            return
        assert_only_whole_files(raw, succeeded=True)
        assert all(md5sum(raw / n) == record["files"][n] for n in NAMES)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from([n for n in NAMES if "images" in n]), where=st.floats(0, 1, exclude_max=True),
       mask=st.integers(1, 255))
def test_a_flip_inside_the_pixels_of_a_plain_file_is_a_valid_read(good, name, where, mask):
    """Pixels have no checksum: a plain file with a changed pixel is a valid dataset (with that pixel)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, raw = Path(tmp) / "source", Path(tmp) / "raw"
        shutil.copytree(good, source)
        images = gzip.decompress((source / name).read_bytes())
        (source / name).unlink()
        at = 16 + int(where * (len(images) - 16))  # past the 16-byte header of 3-D data
        flipped = bytearray(images)
        flipped[at] ^= mask
        (source / name.removesuffix(".gz")).write_bytes(bytes(flipped))
        fetch_dataset(Data(dataset="idx-dir", source=str(source)), raw)
        got = read_idx(raw / name)
        assert got.tobytes() == bytes(flipped[16:])
