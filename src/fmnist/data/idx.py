"""The IDX file format of (Fashion-)MNIST: read and write, gzip or plain.

Layout: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each dimension as
a big-endian uint32, then the data. Labels are 0x00000801 (1-D), images 0x00000803 (N x rows x cols).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from fmnist.errors import DataError
from fmnist.files import atomic

UINT8 = 0x08


def _open(path: Path, mode: str):
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of uint8 data; `ndim` (1 for labels, 3 for images) is checked when given."""
    path = Path(path)
    try:
        with _open(path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises these on a cut or damaged stream
        raise DataError(f"{path}: corrupt or truncated gzip stream ({exc})") from None

    if len(blob) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(blob)} bytes)")
    zero, dtype, dims = struct.unpack(">HBB", blob[:4])
    if zero != 0 or dtype != UINT8 or dims == 0:
        raise DataError(f"{path}: wrong IDX magic 0x{blob[:4].hex()} (expected 0x000008NN, uint8 data)")
    if ndim is not None and dims != ndim:
        raise DataError(f"{path}: wrong IDX magic 0x{blob[:4].hex()}: {dims}-D data, expected {ndim}-D "
                        f"(0x0000080{ndim})")
    header = 4 + 4 * dims
    if len(blob) < header:
        raise DataError(f"{path}: truncated header")
    shape = struct.unpack(f">{dims}I", blob[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    got = len(blob) - header
    if got != expected:
        fault = "truncated" if got < expected else "has trailing bytes"
        raise DataError(f"{path}: {fault}: dims {'x'.join(map(str, shape))} need {expected} bytes, got {got}")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray, compresslevel: int = 6) -> None:
    """Write uint8 data as IDX (gzip when the name ends in .gz), atomically: temp file, then rename."""
    path = Path(path)
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX writer takes uint8 data, got {array.dtype}")
    header = struct.pack(">HBB", 0, UINT8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with atomic(path) as tmp, open(tmp, "wb") as raw:
        # No name and mtime 0 in the gzip header: the same data gives the same bytes (and hash).
        f = gzip.GzipFile(filename="", mode="wb", compresslevel=compresslevel, fileobj=raw, mtime=0) \
            if path.suffix == ".gz" else raw
        with f:
            f.write(header)
            f.write(array.tobytes())
