"""Files written whole or not at all, and file digests.

Every file a stage writes goes to a temp file beside its target (`<name>.tmp`) and is then renamed over it:
os.replace is atomic within a filesystem, so a kill mid-write never leaves a half-written file where DVC or a
later stage would read it, and the next run removes the temp file that was left. A write the machine refuses
(a full disk, a quota, a read-only or foreign folder) becomes a StorageError naming the file: one line, and the
temp file is gone, so the space it took is free again and the previous file is still whole.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from fmnist.errors import DataError, storage_fault


def temp_of(path: str | os.PathLike) -> Path:
    """The temp file a write of `path` goes through."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a write fault of the machine's (ENOSPC, EDQUOT, EROFS, EACCES) into a StorageError naming `path`."""
    try:
        yield
    except Exception as exc:
        fault = storage_fault(exc, path)
        if fault is None or fault is exc:
            raise
        raise fault from None


@contextlib.contextmanager
def atomic(path: str | os.PathLike) -> Iterator[Path]:
    """Yield the temp path to write; on success rename it over `path`, on failure remove it."""
    path = Path(path)
    tmp = temp_of(path)
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):  # a read-only folder refuses even this
            tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_csv(path: str | os.PathLike, header: list[str], rows) -> None:
    """A CSV file (the csv module quotes a cell holding a comma, a quote or a line break), written whole, with
    Unix line ends (the csv module's default is CRLF) as every other text file the project writes."""
    with atomic(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_json(path: str | os.PathLike):
    """The JSON file at `path`; a DataError naming it when it is missing or damaged (a stage cut off before
    writes were atomic, a hand edit)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing; rerun the stage that writes it (dvc repro)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise DataError(f"{path}: not valid JSON ({str(exc).splitlines()[0]}); rerun the stage that writes it "
                        "(dvc repro)") from None


def md5sum(path: str | os.PathLike) -> str:
    """The file's MD5, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
