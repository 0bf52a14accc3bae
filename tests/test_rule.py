"""The rule behind the faults: no exception of any library reaches the user as a traceback from a stage or the
`fmnist` command. Each fault, whether a library raises it (planted: a `sitecustomize` module on PYTHONPATH makes
one library function raise) or a damaged input causes it, becomes one line naming the cause and a non-zero exit
(a tracking fault: one warning, and the stage goes on), and every output file stays whole."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import BIN
from stage_project import command, make_project, run_pipeline, stage_env

pytestmark = pytest.mark.slow

# FMNIST_RAISE="<module>|<attribute path>|<exception expression>": that function raises instead of running.
PLANT = textwrap.dedent('''
    import os
    spec = os.environ.get("FMNIST_RAISE")
    if spec:
        import importlib
        module, path, raised = spec.split("|")
        owner = importlib.import_module(module)
        *parents, last = path.split(".")
        for name in parents:
            owner = getattr(owner, name)

        def refuse(*args, **kwargs):
            import builtins, mlflow.exceptions, pandas.errors, PIL  # noqa: F401  (names the expressions use)
            raise eval(raised)

        setattr(owner, last, refuse)
''')

PLANTED = [  # (id, what runs, module, attribute, exception, what the line must say, exit status)
    ("torch.save", "train", "torch", "save",
     "RuntimeError('[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534')",
     "unexpected RuntimeError: [enforce fail at inline_container.cc:672]", 1),
    ("out of memory", "train", "torch.nn", "Module.__call__", "MemoryError()", "out of memory (MemoryError)", 1),
    ("numpy I/O error", "prepare", "numpy", "save", "OSError(5, 'Input/output error')", "Input/output error", 1),
    ("png writer", "describe", "matplotlib.figure", "Figure.savefig", "RuntimeError('libpng error: Write Error')",
     "libpng error: Write Error", 1),
    ("scikit-learn", "evaluate", "sklearn.metrics", "confusion_matrix",
     "ValueError('At least one label specified must be in y_true')", "At least one label specified", 1),
    ("pandas parser", "report", "pandas", "read_csv",
     "pandas.errors.ParserError('Error tokenizing data. C error: Expected 3 fields in line 4, saw 5')",
     "not a valid table (Error tokenizing data", 2),
    ("md5 refused (FIPS)", "download", "hashlib", "md5",
     "ValueError('[digital envelope routines] unsupported')", "[digital envelope routines] unsupported", 1),
    ("a bug's TypeError", "settings", "json", "dumps", "TypeError('Object of type Foo is not JSON serializable')",
     "unexpected TypeError: Object of type Foo", 1),
    ("tracking store", "train", "mlflow.tracking.client", "MlflowClient.log_batch",
     "mlflow.exceptions.MlflowException('the store refused the batch')", "the store refused the batch", 0),
    ("image decoder", "predict", "PIL.Image", "open", "PIL.UnidentifiedImageError('cannot identify image file')",
     "shoe.png: not an image", 2),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("rule"), epochs=2)
    plant = tmp_path_factory.mktemp("plant")
    (plant / "sitecustomize.py").write_text(PLANT)
    env = stage_env(root, OMP_NUM_THREADS="1", PYTHONPATH=str(plant))
    run_pipeline(root, env=env)
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(root / "shoe.png")
    return root, env


def run(root: Path, what: str, env: dict) -> subprocess.CompletedProcess:
    if what == "predict":
        cmd = [str(BIN / "fmnist"), "predict", "--model", "models/tiny.pt", "shoe.png"]
    elif what == "check-params":
        cmd = [str(BIN / "fmnist"), "check-params", "params"]
    else:
        cmd = command(what)
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def assert_whole(root: Path) -> None:
    """Every output file reads as what it is; no temp file is left."""
    assert not list(root.glob("**/*.tmp")), list(root.glob("**/*.tmp"))
    from PIL import Image

    for path in root.rglob("*"):
        if not path.is_file() or "mlartifacts" in path.parts or path.name == "mlflow.db":
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        elif path.suffix == ".npy":
            np.load(path)
        elif path.suffix == ".png":
            Image.open(path).verify()


def assert_one_line(proc, says: str, status: int) -> None:
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == status, proc.stderr
    if status == 0:
        assert len(lines) == 1 and lines[0].startswith("warning: ") and says in lines[0], proc.stderr
    else:
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr


@pytest.mark.parametrize("what,module,attribute,raised,says,status", [c[1:] for c in PLANTED],
                         ids=[c[0] for c in PLANTED])
def test_a_library_fault_is_one_line(project, what, module, attribute, raised, says, status):
    root, env = project
    proc = run(root, what, {**env, "FMNIST_RAISE": f"{module}|{attribute}|{raised}"})
    assert_one_line(proc, says, status)
    assert_whole(root)


DAMAGED = [  # (id, what runs, file, its damaged bytes, what the line must say)
    ("truncated array", "train", "data/prepared/unit-sparse/x_train.npy", b"\x93NUMPY\x01\x00v\x00{'descr'",
     "data/prepared/unit-sparse/x_train.npy"),
    ("weights not torch's", "evaluate", "models/tiny.pt", b"not a weights file", "models/tiny.pt"),
    ("metrics not JSON", "report", "metrics/tiny.json", b"{\"test_accuracy\": 0.5,", "metrics/tiny.json"),
    ("params a folder", "check-params", "params", None, "params"),
    ("weights for predict", "predict", "models/tiny.pt", b"\x00" * 100, "models/tiny.pt"),
]


@pytest.mark.parametrize("what,name,damaged,says", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_a_damaged_input_is_one_line_naming_it(project, what, name, damaged, says):
    root, env = project
    path = root / name
    kept = path.with_name(path.name + ".kept")
    if path.exists():
        shutil.copy2(path, kept)
    try:
        if damaged is None:
            path.mkdir()
        else:
            path.write_bytes(damaged)
        proc = run(root, what, env)
        assert_one_line(proc, says, 2)
    finally:
        if path.is_dir():
            path.rmdir()
        if kept.exists():
            kept.replace(path)
    assert_whole(root)


def test_the_traceback_is_there_for_whoever_asks(project):
    root, env = project
    proc = run(root, "settings", {**env, "FMNIST_RAISE": "json|dumps|TypeError('a bug')", "FMNIST_TRACEBACK": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: unexpected TypeError: a bug (FMNIST_TRACEBACK=1 shows where)"
