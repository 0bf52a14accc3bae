"""Safety: the source never loads untrusted data unsafely, and the documented servers bind to loopback."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("src", "stages", "bench") for p in (ROOT / d).rglob("*.py"))


def calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            # A method call on an expression (model.eval()) has an owner that is not a bare builtin.
            owner = getattr(func.value, "id", "<expr>") if isinstance(func, ast.Attribute) else ""
            yield node, owner, name


def keyword(node, name):
    return next((k.value for k in node.keywords if k.arg == name), None)


def test_sources_exist():
    assert len(SOURCES) > 10


def test_no_unsafe_loading():
    faults = []
    for path in SOURCES:
        for node, owner, name in calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if owner == "torch" and name == "load":
                flag = keyword(node, "weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    faults.append(f"{where}: torch.load without weights_only=True")
            if owner == "yaml" and name in ("load", "load_all", "unsafe_load", "full_load"):
                faults.append(f"{where}: yaml.{name} (use yaml.safe_load)")
            if owner in ("pickle", "cPickle", "dill", "marshal") and name in ("load", "loads"):
                faults.append(f"{where}: {owner}.{name} of possibly untrusted data")
            if not owner and name in ("eval", "exec"):
                faults.append(f"{where}: {name}()")
            shell = keyword(node, "shell")
            if isinstance(shell, ast.Constant) and shell.value is True:
                faults.append(f"{where}: subprocess with shell=True")
            if owner == "np" and name == "load":
                allow = keyword(node, "allow_pickle")
                if isinstance(allow, ast.Constant) and allow.value is True:
                    faults.append(f"{where}: np.load(allow_pickle=True)")
    assert not faults, "\n".join(faults)


def test_walker_catches_what_it_should(tmp_path):
    """The check above is only worth something if it fires on the unsafe forms."""
    bad = "import torch, yaml, pickle\ntorch.load('x')\nyaml.load(s)\npickle.loads(b)\neval('1')\n"
    found = [(o, n) for _, o, n in calls(ast.parse(bad))]
    assert ("torch", "load") in found and ("yaml", "load") in found and ("pickle", "loads") in found
    assert ("", "eval") in found


def test_documented_servers_bind_to_loopback():
    """Every `mlflow server` / `mlflow ui` / `models serve` command in the docs names 127.0.0.1."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    commands = [line for d in docs if d.exists() for line in d.read_text().splitlines()
                if re.search(r"mlflow (server|models serve)\b", line) and not line.lstrip().startswith("#")]
    for line in commands:
        assert "127.0.0.1" in line or "--host" not in line and "-h " not in line and "0.0.0.0" not in line, line
        assert "0.0.0.0" not in line, line
