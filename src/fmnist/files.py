"""Files written whole or not at all, and file digests.

Every file a stage writes goes to a temp file beside its target (`<name>.tmp`) and is then renamed over it:
os.replace is atomic within a filesystem, so a kill mid-write never leaves a half-written file where DVC or a
later stage would read it, and the next run removes the temp file that was left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path


def temp_of(path: str | os.PathLike) -> Path:
    """The temp file a write of `path` goes through."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


@contextlib.contextmanager
def atomic(path: str | os.PathLike) -> Iterator[Path]:
    """Yield the temp path to write; on success rename it over `path`, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_of(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def md5sum(path: str | os.PathLike) -> str:
    """The file's MD5, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
