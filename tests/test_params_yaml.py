"""One reading of params.yaml: the project's reader held against DVC's on the same files. Whatever DVC refuses,
`fmnist check-params` and every stage refuse too (a key given twice named with its two lines), and what DVC
accepts both read as the same data (YAML 1.2: `yes` a string, `1e-3` a number, `017` decimal)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BIN, ROOT
from fmnist.errors import ParamsError
from fmnist.params_yaml import parse_yaml, read_yaml


def dvc_reading(path: Path):
    """("ok", data) or ("refused", message): what DVC's own params loader makes of the file."""
    from dvc.utils.serialize import load_yaml

    try:
        return "ok", load_yaml(str(path))
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return "refused", str(exc)


def our_reading(path: Path):
    try:
        return "ok", read_yaml(path)
    except ParamsError as exc:
        return "refused", str(exc)


CASES = {  # name: (text, duplicated key or None)
    "top-level twice": ("lr: 0.1\nlr: 0.01\n", ("lr", 1, 2)),
    "nested twice": ("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.01\n", ("train.lr", 2, 4)),
    "experiment entry twice": ("experiments:\n  a: {model: tiny}\n  b: {model: asl}\n  a: {model: asl}\n",
                               ("experiments.a", 2, 4)),
    "flow mapping twice": ("augment: {crop: 2, flip: true, crop: 4}\n", ("augment.crop", 1, 1)),
    "in a list item": ("items:\n  - {a: 1}\n  - a: 1\n    a: 2\n", ("items.1.a", 3, 4)),
    "quoted and plain": ('"lr": 1\nlr: 2\n', ("lr", 1, 2)),
    "int and string key differ": ('1: a\n"1": b\n', None),
    "same key, other levels": ("lr: 1\ntrain:\n  lr: 2\n", None),
    "int keys 1 and 0x1": ("1: a\n0x1: b\n", "refused"),
    "merge keys": ("base: &b {lr: 1, epochs: 2}\ntrain:\n  <<: *b\n  lr: 3\n", None),
    "yaml 1.1 booleans": ("a: yes\nb: no\nc: on\nd: off\ne: y\n", None),
    "numbers": ("a: 1e3\nb: 1e-3\nc: 017\nd: 0o17\ne: 1_000\nf: .5\ng: +1\nh: 0x1f\ni: 1.0e+3\n", None),
    "dates and nulls": ("a: 2024-01-02\nb: ~\nc: null\nd: ''\n", None),
    "anchors": ("a: &x [1, 2]\nb: *x\n", None),
    "tab indentation": ("train:\n\tlr: 1\n", "refused"),
    "unclosed quote": ("a: 'x\n", "refused"),
    "bad indentation": ("a:\n  - 1\n b: 2\n", "refused"),
    "empty": ("", None),
    "comment only": ("# nothing\n", None),
    "non-ascii": ("data:\n  name: Kleidung – ä 衬衫\n", None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_project_reads_params_as_dvc_does(tmp_path, name):
    text, expect = CASES[name]
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    ours, theirs = our_reading(path), dvc_reading(path)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        assert ours[1] == theirs[1] and type(ours[1]) is type(theirs[1])
        assert expect is None
    elif isinstance(expect, tuple):
        key, first, second = expect
        assert f"key {key} is given twice, at lines {first} and {second}" in ours[1], ours[1]
    else:
        assert expect == "refused"


def test_bytes_that_are_not_utf8_are_refused_in_one_line_by_both(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"data:\n  name: caf\xe9\n")
    ours, theirs = our_reading(path), dvc_reading(path)
    assert ours[0] == theirs[0] == "refused"
    assert "not UTF-8 text" in ours[1]


KEYS = st.sampled_from(["lr", "epochs", "a", "b", "1", '"1"', "'lr'", "on", "yes"])
SCALARS = st.sampled_from(["1", "01", "017", "1e3", "1e-3", "0x10", "yes", "no", "on", "~", "null", "true",
                           "1_0", ".inf", "-.5", "'x'", '"y"', "2024-01-01", "abc", "[1, 2]", "{c: 1}", "''"])


@st.composite
def documents(draw):
    """Small block mappings two levels deep, where a key may well repeat."""
    lines = []
    for key in draw(st.lists(KEYS, min_size=1, max_size=5)):
        if draw(st.booleans()):
            lines.append(f"{key}: {draw(SCALARS)}")
        else:
            lines.append(f"{key}:")
            lines += [f"  {k}: {draw(SCALARS)}" for k in draw(st.lists(KEYS, min_size=1, max_size=4))]
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=documents())
def test_generated_files_read_alike(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    ours, theirs = our_reading(path), dvc_reading(path)
    assert ours[0] == theirs[0], (text, ours, theirs)
    if ours[0] == "ok":
        assert ours[1] == theirs[1], text


def test_check_params_and_dvc_both_refuse_a_key_given_twice(tmp_path):
    """The real commands on one file: `fmnist check-params` names the key and its lines; `dvc repro` refuses."""
    params = (ROOT / "params.yaml").read_text()
    assert "\n  lr: 0.001\n" in params
    lines = params.splitlines()
    at = lines.index("  lr: 0.001") + 1
    (tmp_path / "params.yaml").write_text(params.replace("\n  lr: 0.001\n", "\n  lr: 0.1\n  lr: 0.01\n"))
    (tmp_path / "dvc.yaml").write_text(textwrap.dedent("""\
        stages:
          show:
            cmd: echo ${train.lr}
    """))
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    dvc = subprocess.run([str(BIN / "dvc"), "repro", "--dry"], cwd=tmp_path, capture_output=True, text=True)
    assert dvc.returncode != 0 and "params.yaml" in dvc.stderr, dvc.stderr
    ours = subprocess.run([str(BIN / "fmnist"), "check-params"], cwd=tmp_path, capture_output=True, text=True)
    assert ours.returncode == 2 and "Traceback" not in ours.stderr
    assert ours.stderr.strip() == (f"error: params.yaml: key train.lr is given twice, at lines {at} and {at + 1}; "
                                   "keep one (DVC refuses a file that repeats a key)")


def test_dvc_and_the_stages_take_the_same_values(tmp_path):
    """Values PyYAML (YAML 1.1) reads otherwise: DVC's interpolation and the project's reader agree."""
    (tmp_path / "params.yaml").write_text("a: yes\nb: 1e-3\nc: 017\nd: on\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  show:\n    cmd: echo ${a} ${b} ${c} ${d}\n")
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    dvc = subprocess.run([str(BIN / "dvc"), "repro", "--dry"], cwd=tmp_path, capture_output=True, text=True)
    assert dvc.returncode == 0, dvc.stderr
    ours = read_yaml(tmp_path / "params.yaml")
    assert f"echo {ours['a']} {ours['b']} {ours['c']} {ours['d']}" in dvc.stdout, dvc.stdout
    assert ours == {"a": "yes", "b": 0.001, "c": 17, "d": "on"}


def test_a_line_is_named_for_other_yaml_faults():
    with pytest.raises(ParamsError, match=r"params.yaml: not valid YAML at line 3"):
        parse_yaml("a:\n  - 1\n b: 2\n", "params.yaml")
