"""The README and the docs pages: the README stays short, links every docs page, maps every module of src/ and
bench/, and every relative link of README.md, docs/*.md and bench/README.md points to a file or folder that
exists (and to a heading that exists, where it names one)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)\)")


def prose(text: str) -> list[str]:
    """The lines of a Markdown page outside code: fenced blocks and indented blocks left out."""
    out, fenced, indented, blank = [], False, False, True
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if line.strip():
            indented = line.startswith("    ") and (blank or indented)  # a code block starts after a blank line
            if not fenced and not indented:
                out.append(line)
        blank = not line.strip()
    return out


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in prose(page.read_text()):
        match = re.match(r"#{1,6} (.+)", line)
        if match:
            base = slug(match.group(1))
            seen[base if base not in seen else f"{base}-{seen[base]}"] = 0
            seen[base] = seen.get(base, 0) + 1
    return set(seen)


def links(page: Path) -> list[str]:
    return [target for line in prose(page.read_text()) for target in LINK.findall(line)]


def test_slugs_as_github_makes_them():
    assert slug("A lent GPU: `gpu.py`") == "a-lent-gpu-gpupy"
    assert slug("What re-runs when you change something") == "what-re-runs-when-you-change-something"
    assert slug("Your own data, offline") == "your-own-data-offline"


def test_prose_leaves_out_code():
    text = "a [x](one.md)\n\n    [y](two.md)\n    more\n\n```\n[z](three.md)\n```\nb [w](four.md)\n"
    assert [t for line in prose(text) for t in LINK.findall(line)] == ["one.md", "four.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(ROOT / "README.md")}
    assert not {p.resolve() for p in (ROOT / "docs").glob("*.md")} - linked


def tracked(pattern: str) -> list[Path]:
    """The files git tracks under the pattern: what a fresh clone holds."""
    names = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in names.split()]


def test_the_readme_maps_every_module():
    readme = (ROOT / "README.md").read_text()
    code = readme[readme.index("## The code"):readme.index("## How to add")]
    names = {p.name for p in tracked("src/fmnist/*.py") if p.parent.name == "fmnist" and p.name != "__init__.py"}
    names |= {f"{p.parent.name}/" for p in tracked("src/fmnist/*/__init__.py") if p.parent.parent.name == "fmnist"}
    names |= {p.name for p in tracked("src/fmnist/data/*.py") if p.parent.name == "data" and p.name != "__init__.py"}
    names |= {p.name for p in tracked("bench/*.py") + tracked("bench/*.sh") if p.parent.name == "bench"}
    missing = sorted(n for n in names if not re.search(rf"(?<![\w/.]){re.escape(n)}", code))
    assert names and not missing, f"README.md's map (The code) lacks: {', '.join(missing)}"


def test_the_package_listing_names_the_modules_that_exist():
    """docs/pipeline.md lists the modules inside some packages one by one: each of them exists, and none
    of the package's modules is left out."""
    page = (ROOT / "docs" / "pipeline.md").read_text()
    listing = page[page.index("Inside the packages"):]
    named: dict[str, set[str]] = {}
    for line in listing.splitlines():
        if package := re.match(r" {6}(\S+/) ", line):
            current = named.setdefault(package.group(1), set())
        elif module := re.match(r" {8}(\S+\.py)\b", line):
            current.add(module.group(1))
    assert named
    for package, modules in named.items():
        folder = ROOT / "src" / "fmnist" / package
        held = {p.name for p in tracked(f"src/fmnist/{package}*.py") if p.parent == folder
                and (p.name != "__init__.py" or p.name in modules)}  # __init__.py where it holds the code
        assert modules == held, f"docs/pipeline.md, {package}: names {sorted(modules - held)}, lacks {sorted(held - modules)}"
