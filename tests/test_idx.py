"""The IDX codec on the REAL Fashion-MNIST label files and on damaged copies."""

import gzip
import hashlib

import numpy as np
import pytest

from fmnist.data.idx import read_idx, write_idx
from fmnist.data.kinds import KINDS
from fmnist.errors import DataError

MD5 = KINDS["fashion-mnist"].md5


@pytest.mark.parametrize("name,count", [("train-labels-idx1-ubyte.gz", 60000), ("t10k-labels-idx1-ubyte.gz", 10000)])
def test_real_label_files(shared_labels, name, count):
    path = shared_labels / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == MD5[name]
    labels = read_idx(path, ndim=1)
    assert labels.shape == (count,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [count // 10] * 10


def test_round_trip_gz_and_plain(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    for name in ("x.gz", "x"):
        write_idx(tmp_path / name, images)
        assert np.array_equal(read_idx(tmp_path / name, ndim=3), images)
    # The header is the documented magic 0x00000803 then the dims, big-endian.
    assert (tmp_path / "x").read_bytes()[:16] == bytes.fromhex("00000803 00000007 0000001c 0000001c".replace(" ", ""))


def test_writes_are_deterministic(tmp_path):
    labels = np.arange(50, dtype=np.uint8) % 10
    write_idx(tmp_path / "a.gz", labels)
    write_idx(tmp_path / "b.gz", labels)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_truncated_gzip_names_the_file(shared_labels, tmp_path):
    bad = tmp_path / "train-labels-idx1-ubyte.gz"
    bad.write_bytes((shared_labels / bad.name).read_bytes()[:5000])
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: corrupt or truncated"):
        read_idx(bad)


def test_truncated_data(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(100, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"labels: truncated: dims 100 need 100 bytes, got 90"):
        read_idx(path)


def test_wrong_magic_and_wrong_rank(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")  # 0x0D = float data
    with pytest.raises(DataError, match="bad.gz: wrong IDX magic 0x00000d01"):
        read_idx(path)
    write_idx(tmp_path / "labels.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="1-D data, expected 3-D"):
        read_idx(tmp_path / "labels.gz", ndim=3)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.gz: file not found"):
        read_idx(tmp_path / "nope.gz")
