"""dvc.yaml's code dependencies are exactly the project modules each stage script imports, directly or
through other modules (any import statement, top-level or inside a function): a new import cannot escape
DVC, and an edit re-runs exactly the stages that load the edited module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """The file of project module `name` (fmnist.x.y), or None for a module outside the project."""
    if name != "fmnist" and not name.startswith("fmnist."):
        return None
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[Path]:
    """The project files one file imports: modules, and for `from package import name` the submodule
    `name` where there is one. A module's packages run their __init__ first, so they count too."""
    package = module_name(path) if path.is_relative_to(SRC) else ""
    if path.is_relative_to(SRC) and path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package of this file, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    files = set()
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # fmnist, fmnist.data, fmnist.data.prepare
            found = module_file(".".join(parts[:i]))
            if found:
                files.add(found)
    return files


def closure(script: Path) -> set[Path]:
    seen, todo = set(), [script]
    while todo:
        for found in imported(todo.pop()) - seen:
            seen.add(found)
            todo.append(found)
    return seen


def declared(stage: dict) -> tuple[Path, set[Path]]:
    """The stage script and the project modules its deps name (a folder stands for its .py files)."""
    body = stage.get("do", stage)
    script = ROOT / body["cmd"].split()[1]
    files = set()
    for dep in body["deps"]:
        path = ROOT / dep
        if dep.startswith("src/"):
            files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    assert dep_names_script(body, script), f"{script.name} is not among its stage's deps"
    return script, files


def dep_names_script(body: dict, script: Path) -> bool:
    return str(script.relative_to(ROOT)) in body["deps"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_code_deps_are_the_import_closure(name):
    script, files = declared(STAGES[name])
    needed = closure(script)
    rel = lambda paths: sorted(str(p.relative_to(ROOT)) for p in paths)  # noqa: E731
    assert rel(needed - files) == [], f"{name} imports modules dvc.yaml does not list"
    assert rel(files - needed) == [], f"{name} lists modules it does not import"


def test_the_closure_follows_imports_inside_functions_and_relative_ones():
    found = {str(p.relative_to(SRC)) for p in closure(ROOT / "stages" / "train.py")}
    assert "fmnist/models/asl.py" in found  # from .asl import ASL, in fmnist/models/__init__.py
    assert "fmnist/training/loop.py" in found and "fmnist/__init__.py" in found


def test_the_report_stage_loads_no_torch_and_train_no_report():
    import subprocess
    import sys

    code = ("import runpy, sys; sys.argv = ['report.py', '--help']; sys.path.insert(0, 'stages')\n"
            "try:\n    runpy.run_path('stages/report.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("False"), out.stderr[-2000:]
    train = {str(p.relative_to(SRC)) for p in closure(ROOT / "stages" / "train.py")}
    assert not {"fmnist/report.py", "fmnist/predict.py", "fmnist/report_render.py"} & train
