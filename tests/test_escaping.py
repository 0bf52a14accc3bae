"""Class and dataset names holding `|`, `<`, `&`, `$`, quotes, commas, line breaks and other scripts, through every
place a name is shown: report.md (read by a CommonMark + GFM-tables renderer), report.html, the model card,
the CSV files, the figures, MLflow's metric names and model metadata, and the `fmnist` command's output."""

from __future__ import annotations

import csv
import html
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt

from conftest import BIN
from fmnist.escaping import markdown, one_line, terminal
from fmnist.report_render import Block, render_html, render_markdown
from stage_project import make_project, run_pipeline, stage_env

NAMES = ["T|shirt", "<script>alert(1)</script>", "Pants & co", 'say "hi"', "a, b", "line\nbreak", "Kleid ä",
         "衬衫", "$5 *bag* _x_", "[link](y) `c` #1 ~~s~~"]


class Cells(HTMLParser):
    """The text of each table cell of an HTML page, and the tags it opens."""

    def __init__(self):
        super().__init__()
        self.cells, self.tags, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def rendered(markdown_text: str) -> Cells:
    page = Cells()
    page.feed(MarkdownIt("commonmark").enable("table").render(markdown_text))
    return page


def test_markdown_escaping_reads_back_as_the_name_under_a_commonmark_renderer():
    for name in NAMES:
        page = rendered(f"| name |\n|---|\n| {markdown(name)} |\n")
        assert page.cells == ["name", one_line(name)], name
        assert "script" not in page.tags and "em" not in page.tags and "a" not in page.tags
        text = MarkdownIt("commonmark").render(f"Run on {markdown(name)}.")
        assert "<script" not in text and "<em>" not in text and "<code>" not in text and "<a " not in text, text


def test_the_report_renderings_keep_names_as_text(tmp_path):
    (tmp_path / "a b (1).png").write_bytes(b"\x89PNG")
    blocks = [Block("h1", f"Report - {markdown(NAMES[1])}"), Block("p", f"On **{markdown(NAMES[8])}**, `code`."),
              Block("table", header=["Class", "Count"], rows=[[name, str(i)] for i, name in enumerate(NAMES)]),
              Block("images", images=[(tmp_path / "a b (1).png", NAMES[0])])]
    md_page = rendered(render_markdown(blocks, tmp_path))
    assert md_page.cells == ["Class", "Count"] + [c for i, n in enumerate(NAMES) for c in (one_line(n), str(i))]
    assert "script" not in md_page.tags and md_page.tags.count("strong") == 1 and md_page.tags.count("code") == 1
    assert "a%20b%20%281%29.png" in render_markdown(blocks, tmp_path)  # a file name with spaces still links

    page = Cells()
    text = render_html(blocks, f"Report - {NAMES[1]}")
    page.feed(text)
    assert page.cells == ["Class", "Count"] + [c for i, n in enumerate(NAMES) for c in (n, str(i))]
    assert "script" not in page.tags and page.tags.count("strong") == 1
    assert f"<p>On <strong>{html.escape(NAMES[8])}</strong>, <code>code</code>.</p>" in text


def test_terminal_lines_stay_one_line():
    assert terminal("line\nbreak\x1b[2J") == "line\\nbreak\\x1b[2J"
    assert terminal("Kleid ä 衬衫 | < & \"") == "Kleid ä 衬衫 | < & \""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The whole pipeline on ten classes named as NAMES, tracked in a sqlite MLflow store."""
    root = make_project(tmp_path_factory.mktemp("names"), classes=NAMES, epochs=2)
    env = stage_env(root, OMP_NUM_THREADS="1")
    run_pipeline(root, env=env)
    return root, env


@pytest.mark.slow
def test_report_md_and_html_show_each_name_as_text(project):
    root, _ = project
    md_page = rendered((root / "reports/report.md").read_text(encoding="utf-8"))
    assert "script" not in md_page.tags
    for name in NAMES:
        assert one_line(name) in md_page.cells, name
    page = Cells()
    page.feed((root / "reports/report.html").read_text(encoding="utf-8"))
    assert "script" not in page.tags
    for name in NAMES:
        assert name in page.cells, name
    card = rendered((root / "reports/model_cards/tiny.md").read_text(encoding="utf-8"))
    assert "script" not in card.tags


@pytest.mark.slow
def test_csv_files_read_back_the_exact_names(project):
    from fmnist import tables

    root, _ = project
    with open(root / "plots/confusion/tiny.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["actual"] for r in rows} <= set(NAMES) and len(rows) == 100
    assert list(tables.read_misclassified(root / "plots/misclassified/tiny.csv")["class"]) == NAMES
    with open(root / "plots/data/label_counts.csv", newline="", encoding="utf-8") as f:
        assert list(dict.fromkeys(r["class"] for r in csv.DictReader(f))) == NAMES


@pytest.mark.slow
def test_mlflow_keeps_one_metric_per_class_and_the_names_in_the_model(project):
    import json

    from mlflow import MlflowClient

    root, _ = project
    record = json.loads((root / "models/tiny.run.json").read_text())
    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    run = client.get_run(record["run_id"])
    recall = [k for k in run.data.metrics if k.startswith("per_class/recall.")]
    assert len(recall) == len(NAMES), recall
    assert json.loads(run.data.params["data.classes"]) == NAMES
    model = client.get_logged_model(run.data.tags["model.id"])
    assert model is not None


@pytest.mark.slow
def test_predict_prints_one_line_per_image_whatever_the_names_and_the_terminal(project, tmp_path):
    from PIL import Image

    root, env = project
    images = []
    for i in range(3):
        path = tmp_path / f"image {i}, \"x\".png"
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(path)
        images.append(str(path))
    for encoding in ("utf-8", "ascii"):
        proc = subprocess.run([str(BIN / "fmnist"), "predict", "--model", "models/tiny.pt", "--top", "10", *images],
                              cwd=root, env={**env, "PYTHONIOENCODING": encoding}, capture_output=True, text=True,
                              encoding="utf-8")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stdout.splitlines()
        assert len(lines) == len(images), proc.stdout
        for name in NAMES:
            shown = terminal(name).encode(encoding, "backslashreplace").decode(encoding)  # what the terminal can show
            assert all(shown in line for line in lines), (name, lines[0])


@pytest.mark.slow
def test_figures_are_drawn_and_a_missing_glyph_is_one_line(project):
    root, env = project
    for figure in ("plots/data/label_counts.png", "plots/data/samples.png", "plots/evaluate/tiny/confusion.png",
                   "plots/evaluate/tiny/misclassified.png", "reports/training_curves.png"):
        assert (root / figure).stat().st_size > 1000, figure
    proc = subprocess.run([str(BIN / "python"), str(Path(__file__).parents[1] / "stages/describe.py")], cwd=root,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith("warning: plots/data/") and "no glyph for 衫 衬" in line for line in lines), lines
    assert len(lines) <= 2  # one per figure at most
