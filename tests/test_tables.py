"""The CSV files read back (training history, misclassification table) keep their declared types."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fmnist import tables
from fmnist.errors import DataError
from fmnist.evaluation import misclassification_table
from fmnist.files import write_csv
from fmnist.training.outputs import write_history

# Names a type-guessing reader turns into numbers, booleans or missing values, or splits.
AWKWARD = ["0", "007", "1e3", "NA", "null", "nan", "True", "-1", "a,b", 'say "hi"', " pad "]


def test_class_names_come_back_as_the_same_strings(tmp_path):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, len(AWKWARD), 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, len(AWKWARD), 300))
    table = misclassification_table(y_true, y_pred, AWKWARD)
    write_csv(tmp_path / "m.csv", list(table[0]), [list(r.values()) for r in table])
    got = tables.read_misclassified(tmp_path / "m.csv")
    assert got["class"].tolist() == AWKWARD
    assert got.to_dict("records") == table  # every cell: names as str, counts as int, shares as float
    assert {str(got[c].dtype) for c in ("images", "errors", "mistaken_for_1_count")} == {"int64"}
    assert str(got["accuracy"].dtype) == "float64"


def test_a_class_never_mistaken_has_empty_names_not_missing_values(tmp_path):
    table = misclassification_table(np.array([0, 1, 1]), np.array([0, 1, 1]), ["0", "1"])
    write_csv(tmp_path / "m.csv", list(table[0]), [list(r.values()) for r in table])
    rows = tables.read_misclassified(tmp_path / "m.csv").to_dict("records")
    assert rows[0]["mistaken_for_1"] == "" and rows[0]["mistaken_for_1_count"] == 0


def test_history_keeps_integer_epochs_and_nan_losses(tmp_path):
    rows = [{"epoch": 1, "train_loss": float("nan"), "train_acc": 0.5, "val_loss": float("inf"), "lr": 0.25},
            {"epoch": 2, "train_loss": 0.25, "train_acc": 0.75, "val_loss": 0.5, "lr": 0.5}]
    write_history(rows, tmp_path / "h.csv")
    got = tables.read_history(tmp_path / "h.csv")
    assert str(got["epoch"].dtype) == "int64" and got["epoch"].tolist() == [1, 2]
    assert math.isnan(got["train_loss"][0]) and got["val_loss"][0] == float("inf")
    from fmnist.tracking.outputs import read_history

    assert read_history(tmp_path / "h.csv")[0] == {"epoch": 1, "train_acc": 0.5, "val_loss": float("inf"),
                                                   "lr": 0.25}  # MLflow gets no NaN


@pytest.mark.parametrize("text,fault", [
    ("", "not a valid table"),
    ("class,images,accuracy,errors\n", "no column error_share"),
    ("class,images,accuracy,errors,error_share,colour\nx,1,1.0,0,0.0,red\n", "unexpected column 'colour'"),
    ("class,images,accuracy,errors,error_share\nx,many,1.0,0,0.0\n", "not a valid table"),
    ("class,images,accuracy,errors,error_share\nx,1.5,1.0,0,0.0\n", "not a valid table"),
    ("class,images,accuracy,errors,error_share\nx,,1.0,0,0.0\n", "not a valid table"),
    ('class,images,accuracy,errors,error_share\n"x,1,1.0,0,0.0\n', "not a valid table"),
    ("class,images,accuracy,errors,error_share\nx,1,1.0,0,0.0,9\n", "not a valid table"),
    ("\xff\xfeclass\n", "not a valid table"),
])
def test_a_damaged_table_is_one_line_naming_it(tmp_path, text, fault):
    path = tmp_path / "m.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError) as err:
        tables.read_misclassified(path)
    assert str(err.value).startswith(f"{path}: {fault}") and "\n" not in str(err.value)


def test_a_missing_table_names_it(tmp_path):
    with pytest.raises(DataError, match=r"h.csv: missing; rerun the stage that writes it"):
        tables.read_history(tmp_path / "h.csv")


def test_csv_files_have_unix_line_ends_and_quote_what_needs_it(tmp_path):
    from fmnist.files import write_csv

    write_csv(tmp_path / "t.csv", ["class", "n"], [["a,b", 1], ['say "hi"', 2]])
    assert (tmp_path / "t.csv").read_bytes() == b'class,n\n"a,b",1\n"say ""hi""",2\n'
