"""The download machinery against a real http.server on 127.0.0.1: good, corrupted and missing files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from fmnist.data import sources
from fmnist.data.classes import FASHION_CLASSES
from fmnist.data.idx import read_idx
from fmnist.data.kinds import KINDS, Kind
from fmnist.data.sources import FILES, fetch_dataset
from fmnist.errors import DataError
from fmnist.params import Data


class Server:
    """A real HTTP server on a free loopback port, serving one folder and counting requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        log = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                log.append(self.path)

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path, tiny_idx_dir):
    """Three mirrors: `good` (the tiny dataset), `corrupt` (same names, other bytes), `empty` (404s)."""
    folders = {name: tmp_path / name for name in ("good", "corrupt", "empty")}
    for f in folders.values():
        f.mkdir()
    for name in FILES.values():
        shutil.copy(tiny_idx_dir / name, folders["good"] / name)
        data = bytearray((tiny_idx_dir / name).read_bytes())
        data[-9] ^= 0xFF
        (folders["corrupt"] / name).write_bytes(bytes(data))
    servers = {name: Server(f) for name, f in folders.items()}
    yield servers, folders
    for s in servers.values():
        s.close()


def publish(monkeypatch, mirrors, md5_folder: Path):
    """Register the tiny dataset as `fashion-mnist` with its own MD5s and the given mirrors."""
    md5 = {n: hashlib.md5((md5_folder / n).read_bytes()).hexdigest() for n in FILES.values()}
    monkeypatch.setitem(KINDS, "fashion-mnist", Kind("tiny files", name="Tiny", size=(28, 28), classes=["a", "b", "c"],
                                                     md5=md5, mirrors=tuple(mirrors)))
    return md5


def raw_md5s(raw: Path):
    return {n: hashlib.md5((raw / n).read_bytes()).hexdigest() for n in FILES.values() if (raw / n).exists()}


def test_corrupt_then_good_mirror(monkeypatch, served, tmp_path):
    servers, folders = served
    md5 = publish(monkeypatch, [servers["corrupt"].url, servers["good"].url], folders["good"])
    record = fetch_dataset(Data(dataset="fashion-mnist", retries=1), tmp_path / "raw")
    assert raw_md5s(tmp_path / "raw") == md5
    assert record["name"] == "Tiny" and record["files"] == md5
    assert len(servers["corrupt"].requests) == 4 and len(servers["good"].requests) == 4
    assert not list((tmp_path / "raw").glob("*.tmp"))


def test_missing_on_first_mirror(monkeypatch, served, tmp_path):
    servers, folders = served
    md5 = publish(monkeypatch, [servers["empty"].url, servers["good"].url], folders["good"])
    fetch_dataset(Data(dataset="fashion-mnist", retries=3), tmp_path / "raw")
    assert raw_md5s(tmp_path / "raw") == md5
    assert len(servers["empty"].requests) == 4  # a 404 is not retried


def test_skips_present_and_valid_files(monkeypatch, served, tmp_path):
    servers, folders = served
    publish(monkeypatch, [servers["good"].url], folders["good"])
    fetch_dataset(Data(dataset="fashion-mnist"), tmp_path / "raw")
    (tmp_path / "raw" / "dataset.json").unlink()  # only the files remain: still no download
    fetch_dataset(Data(dataset="fashion-mnist"), tmp_path / "raw")
    assert len(servers["good"].requests) == 4


def test_only_bad_mirrors_leave_nothing_wrong(monkeypatch, served, tmp_path):
    servers, folders = served
    publish(monkeypatch, [servers["corrupt"].url, servers["empty"].url], folders["good"])
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: could not be fetched: .*MD5 mismatch.*offline options"):
        fetch_dataset(Data(dataset="fashion-mnist", retries=1), raw)
    assert raw_md5s(raw) == {} and not (raw / "dataset.json").exists()


def test_wrong_file_already_present_is_replaced(monkeypatch, served, tmp_path):
    servers, folders = served
    md5 = publish(monkeypatch, [servers["good"].url], folders["good"])
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(folders["corrupt"] / FILES["train_labels"], raw / FILES["train_labels"])
    fetch_dataset(Data(dataset="fashion-mnist"), raw)
    assert raw_md5s(raw) == md5


def test_source_folder_and_file_url(monkeypatch, served, tmp_path):
    servers, folders = served
    md5 = publish(monkeypatch, ["http://127.0.0.1:9/"], folders["good"])
    fetch_dataset(Data(dataset="fashion-mnist", source=str(folders["good"])), tmp_path / "a")
    fetch_dataset(Data(dataset="fashion-mnist", source=folders["good"].as_uri()), tmp_path / "b")
    assert raw_md5s(tmp_path / "a") == md5 == raw_md5s(tmp_path / "b")
    with pytest.raises(DataError, match="MD5 mismatch"):
        fetch_dataset(Data(dataset="fashion-mnist", source=str(folders["corrupt"])), tmp_path / "c")
    assert raw_md5s(tmp_path / "c") == {}


def test_offline_fails_fast_naming_the_options(monkeypatch, tmp_path):
    # Port 9 (discard) on loopback is closed: every connection is refused, as with no network.
    monkeypatch.setattr(sources.time, "sleep", lambda s: None)
    started = time.monotonic()
    with pytest.raises(DataError, match="offline options: set data.source .* data.dataset: synthetic"):
        fetch_dataset(Data(dataset="fashion-mnist", source="http://127.0.0.1:9/"), tmp_path / "raw")
    assert time.monotonic() - started < 60


def test_real_label_files_pass_the_official_md5(shared_labels, tmp_path):
    server = Server(shared_labels)
    try:
        for name in (FILES["train_labels"], FILES["test_labels"]):
            sources._download_file(name, [server.url], KINDS["fashion-mnist"].md5[name], tmp_path,
                                   Data())
            assert hashlib.md5((tmp_path / name).read_bytes()).hexdigest() == KINDS["fashion-mnist"].md5[name]
    finally:
        server.close()


def test_idx_dir_plain_files_and_class_names(tmp_path, tiny_idx_dir):
    import gzip

    plain = tmp_path / "plain"
    plain.mkdir()
    for name in FILES.values():
        (plain / name.removesuffix(".gz")).write_bytes(gzip.decompress((tiny_idx_dir / name).read_bytes()))
    record = fetch_dataset(Data(dataset="idx-dir", source=str(plain), name="my-shapes"), tmp_path / "raw")
    assert record["name"] == "my-shapes" and record["classes"] == ["0", "1", "2"]
    record = fetch_dataset(Data(dataset="idx-dir", source=str(plain), classes=["x", "y", "z"]), tmp_path / "raw")
    assert record["classes"] == ["x", "y", "z"] and record["name"] == "plain"
    (plain / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: missing from data.source"):
        fetch_dataset(Data(dataset="idx-dir", source=str(plain)), tmp_path / "raw2")


def test_mismatched_counts_are_refused(tmp_path, tiny_idx_dir):
    from fmnist.data.idx import write_idx

    write_idx(tiny_idx_dir / FILES["test_labels"], np.zeros(19, dtype=np.uint8))
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match="19 labels for 20 images"):
        fetch_dataset(Data(dataset="idx-dir", source=str(tiny_idx_dir)), raw)
    assert not (raw / "dataset.json").exists()


def test_duplicate_images_are_counted_into_the_record(tmp_path, tiny_idx_dir):
    from fmnist.data.idx import read_idx, write_idx

    train = read_idx(tiny_idx_dir / FILES["train_images"]).copy()
    test = read_idx(tiny_idx_dir / FILES["test_images"]).copy()
    train[1] = train[0]  # one twin within train, a triple counts twice
    train[2] = train[0]
    test[3] = test[4]  # one twin within test
    test[5] = train[7]  # two test images seen in training
    test[6] = train[8]
    write_idx(tiny_idx_dir / FILES["train_images"], train)
    write_idx(tiny_idx_dir / FILES["test_images"], test)
    record = fetch_dataset(Data(dataset="idx-dir", source=str(tiny_idx_dir)), tmp_path / "raw")
    assert record["duplicates"] == {"within_train": 2, "within_test": 1, "across": 2}


def test_the_shipped_sample_is_real_balanced_and_checked(tmp_path):
    """fashion-mnist-sample: the 7,000 real images in data/sample, copied with their MD5s checked, 600 training
    and 100 test images per class, named for what they are."""
    record = fetch_dataset(Data(dataset="fashion-mnist-sample"), tmp_path / "raw")
    kind = KINDS["fashion-mnist-sample"]
    assert record["name"] == kind.name and "first-release split" in record["name"]
    assert record["synthetic"] is False and record["classes"] == FASHION_CLASSES
    assert raw_md5s(tmp_path / "raw") == kind.md5
    for split, per_class in (("train", 600), ("t10k", 100)):
        labels = read_idx(tmp_path / "raw" / f"{split}-labels-idx1-ubyte.gz")
        images = read_idx(tmp_path / "raw" / f"{split}-images-idx3-ubyte.gz")
        assert np.bincount(labels).tolist() == [per_class] * 10 and images.shape == (10 * per_class, 28, 28)
        assert images.std() > 50  # photographs of garments, not blank or generated strokes


def test_a_changed_sample_file_is_refused(tmp_path):
    copy = tmp_path / "sample"
    shutil.copytree(ROOT / KINDS["fashion-mnist-sample"].folder, copy)
    blob = bytearray((copy / "t10k-labels-idx1-ubyte.gz").read_bytes())
    blob[-9] ^= 0xFF
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(blob))
    with pytest.raises(DataError, match="MD5 mismatch"):
        fetch_dataset(Data(dataset="fashion-mnist-sample", source=str(copy)), tmp_path / "raw")
    assert not (tmp_path / "raw" / "t10k-labels-idx1-ubyte.gz").exists()


def test_every_kind_is_fetched_by_its_known_files_or_its_own_maker():
    """A kind is one entry in KINDS; one without known files needs a maker in sources.FETCH, and nothing else."""
    without_files = {name for name, kind in KINDS.items() if not kind.md5}
    assert without_files == set(sources.FETCH)
