"""One exception family, so every stage can turn a fault into a one-line message and exit non-zero."""

from __future__ import annotations

import errno
import os


class FmnistError(Exception):
    """A fault the user can act on; its message is one line and names the culprit."""


class ParamsError(FmnistError):
    """params.yaml holds an unknown key, a wrong type or a value out of range."""


class DataError(FmnistError):
    """A data file is missing, truncated, corrupt or inconsistent."""


class StorageError(FmnistError):
    """A file could not be written: the disk is full, over quota, read-only or not ours to write."""


# The write faults the user fixes on the machine, not in the project: errno -> what to say.
STORAGE = {
    errno.ENOSPC: "no space left on the device (ENOSPC); free some space",
    errno.EDQUOT: "disk quota exceeded (EDQUOT); free some space or raise the quota",
    errno.EROFS: "read-only file system (EROFS); make it writable",
    errno.EACCES: "permission denied (EACCES); give this user access to it",
    errno.EPERM: "operation not permitted (EPERM); give this user access to it",
}


FULL = 1 << 20  # bytes: a write that failed with less than this free on its disk failed for want of space


def chain(exc: BaseException):
    """`exc` and the exceptions it was raised from or while handling, outermost first."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def storage_fault(exc: BaseException, path: str | os.PathLike | None = None) -> StorageError | None:
    """The StorageError for a write to `path` that failed with `exc` (or with a fault it wraps: torch.save reports
    a full disk as a RuntimeError raised while handling the OSError); None when it is another fault. A fault
    on another file (a source that cannot be read) names that file instead."""
    for fault in chain(exc):
        if isinstance(fault, StorageError):
            return fault
        if isinstance(fault, OSError) and fault.errno in STORAGE:
            named = os.fsdecode(fault.filename) if isinstance(fault.filename, (str, bytes, os.PathLike)) else None
            target = os.fspath(path) if path is not None else None
            # Which file: the one written, except for a permission fault on another (a source that cannot be read).
            # (shutil.copyfile names its source even when the disk it writes to is full.)
            other = (fault.errno in (errno.EACCES, errno.EPERM) and named is not None and target is not None
                     and named not in (target, target + ".tmp"))
            where = named if other or target is None else target
            verb = "cannot open" if other else "cannot write"
            where = f"{where}: " if where is not None else ""
            return StorageError(f"{where}{verb}: {STORAGE[fault.errno]}, then run `dvc repro` again "
                                "(finished work is kept)")
    refused = disk_refuses(path) if path is not None and any(isinstance(f, (OSError, RuntimeError))
                                                              for f in chain(exc)) else None
    if refused is not None:  # numpy's tofile says "N requested and M written", torch "unexpected pos": no errno
        return storage_fault(OSError(refused, os.strerror(refused)), path)
    return None


def disk_refuses(path: str | os.PathLike) -> int | None:
    """ENOSPC when the file system that holds `path` is full, EROFS when it is read-only, else None."""
    folder = os.path.abspath(os.fspath(path))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        disk = os.statvfs(folder)
    except OSError:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return errno.EROFS
    return errno.ENOSPC if disk.f_bavail * disk.f_frsize < FULL else None
