"""The CSV files the pipeline reads back, each read with declared column types.

Nothing is guessed from a cell's text: a class named "0", "007", "1e3" or "NA" stays that string, a
count stays an integer, a score a float. A file whose columns or cells do not fit is refused in one
line naming it.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pandas as pd

from fmnist.errors import DataError

# The text a float cell may hold for "no value" (the writers print NaN as nan). Only float columns
# take it: in a class-name column "nan" and "NA" are names like any other.
MISSING = ["", "nan", "NaN", "-nan"]


def history_type(column: str) -> str:
    """plots/train/<experiment>.csv: the epoch number, then one float per measure."""
    return "int64" if column == "epoch" else "float64"


def misclassified_type(column: str) -> str:
    """plots/misclassified/<experiment>.csv: per true class, its name, counts, shares and the class
    names it is most often mistaken for (with their counts)."""
    if column == "class" or re.fullmatch(r"mistaken_for_\d+", column):
        return "str"
    if column in ("images", "errors") or re.fullmatch(r"mistaken_for_\d+_count", column):
        return "int64"
    if column in ("accuracy", "error_share"):
        return "float64"
    raise KeyError(column)


HISTORY_REQUIRED = ("epoch",)
MISCLASSIFIED_REQUIRED = ("class", "images", "accuracy", "errors", "error_share")


def read_table(path: str | os.PathLike, column_type, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read `path` with each column's type given by `column_type(name)`; a DataError names the file
    when a column is missing or unknown, or a cell does not fit its column's type."""
    path = Path(path)
    try:
        columns = list(pd.read_csv(path, nrows=0, dtype=str).columns)
        missing = [c for c in required if c not in columns]
        if missing:
            raise DataError(f"{path}: no column {', '.join(missing)}; rerun the stage that writes it")
        try:
            dtype = {c: column_type(c) for c in columns}
        except KeyError as exc:
            raise DataError(f"{path}: unexpected column {exc.args[0]!r}; rerun the stage that writes it") from None
        with warnings.catch_warnings():  # pandas only warns when a row is longer than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=dtype, keep_default_na=False, index_col=False,
                               na_values={c: MISSING for c, kind in dtype.items() if kind == "float64"})
    except FileNotFoundError:
        raise DataError(f"{path}: missing; rerun the stage that writes it") from None
    except (ValueError, pd.errors.ParserWarning) as exc:  # ParserError, EmptyDataError, UnicodeDecodeError too
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a valid table ({reason})") from None


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    """The per-epoch rows training wrote: epoch as int64, every measure as float64."""
    return read_table(path, history_type, HISTORY_REQUIRED)


def read_misclassified(path: str | os.PathLike) -> pd.DataFrame:
    """The per-class misclassification table evaluate wrote; class names as strings."""
    return read_table(path, misclassified_type, MISCLASSIFIED_REQUIRED)


def mistaken_for(row: dict, name=str) -> str:
    """A misclassification row's "mistaken for" classes with their counts, most first ("Shirt (12), Coat (3)"),
    each class name shown through `name` (an escaping for the medium); "-" when it has none."""
    parts, k = [], 1
    while f"mistaken_for_{k}" in row:
        if row[f"mistaken_for_{k}_count"]:
            parts.append(f"{name(row[f'mistaken_for_{k}'])} ({row[f'mistaken_for_{k}_count']})")
        k += 1
    return ", ".join(parts) or "-"
