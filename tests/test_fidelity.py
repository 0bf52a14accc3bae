"""The fidelity table (bench/fidelity.py): per-seed final accuracies of the port and of Keras, their spread and
the verdict, from the files; and the sections of README.md and docs/results.md are the ones made from the committed
files."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, bench_module

fidelity = bench_module("fidelity")


@pytest.mark.parametrize("page", ["README.md", "docs/results.md"])
def test_the_pages_fidelity_sections_are_generated(page):
    assert ROOT / page in fidelity.PAGES
    text = (ROOT / page).read_text()
    assert fidelity.readme_section(text) == fidelity.render(page=ROOT / page), "run: python bench/fidelity.py --write"


def write_runs(folder, side, name, finals, epochs=20, train=None):
    """One file per seed whose curve ends (at `epochs`) on the given final accuracy (and training accuracy)."""
    (folder / side).mkdir(parents=True, exist_ok=True)
    for seed, final in finals.items():
        record = {"seed": seed, "test_acc": [0.5] * (epochs - 1) + [final]}
        if side == "keras":
            record["batch_order"] = "a new permutation every epoch"
        if train:
            record["train_acc"] = [0.5] * (epochs - 1) + [train[seed]]
        (folder / side / f"{name}-seed{seed}.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results" / "some-data" / "fidelity"
    write_runs(folder, "port", "seed003-unit-onehot", {0: 0.9163, 1: 0.9201, 2: 0.9232})
    write_runs(folder, "keras", "unit-onehot", {0: 0.9235, 1: 0.9190, 2: 0.9215})
    write_runs(folder, "port", "seed003-raw-onehot", {0: 0.90, 1: 0.90, 2: 0.91})
    write_runs(folder, "keras", "raw-onehot", {0: 0.93, 1: 0.93, 2: 0.94})
    return tmp_path / "results"


def row(text, variant, table=0):
    """The cells of a variant's row in the test-accuracy table (0) or the training-accuracy one (1)."""
    lines = [line for line in text.splitlines() if line.startswith(f"| `{variant}`")]
    return [cell.strip() for cell in lines[table].strip("|").split("|")]


def test_spread_difference_and_verdict_from_the_files(results):
    text = fidelity.render(results)
    cells = row(text, "unit-onehot")
    # port 91.63, 92.01, 92.32: mean 91.9867, std 0.3459; Keras 92.35, 91.90, 92.15: mean 92.1333, std 0.2255
    assert cells[2] == "91.99 ± 0.35 % (n 3; 91.63-92.32)"
    assert cells[3] == "92.13 ± 0.23 % (n 3; 91.90-92.35)"
    assert cells[4] == "-0.15 pp" and cells[5] == "0.29 pp" and cells[6] == "within one pooled std"
    assert row(text, "raw-onehot")[6] == "outside"  # 3 pp apart, spreads of 0.6 pp
    assert row(text, "unit-sparse")[2:] == cells[2:6] + ["within one pooled std", "91.63 %"]  # its one-hot runs


def test_a_shorter_variant_reads_its_epoch_and_missing_runs_say_unmeasured(results):
    folder = results / "some-data" / "fidelity"
    write_runs(folder, "port", "seed003-raw-onehot", {5: 0.95}, epochs=10)  # only 10 epochs long
    text = fidelity.render(results)
    # raw-sparse: epoch 10 of the three 20-epoch curves (0.5) and the 10-epoch run's last (0.95)
    assert row(text, "raw-sparse")[2] == "61.25 ± 22.50 % (n 4; 50.00-95.00)"
    assert "(n 3;" in row(text, "raw-onehot")[2]  # the 10-epoch run does not count for raw-onehot's 20
    for path in (folder / "keras").glob("unit-*"):
        path.unlink()
    assert row(fidelity.render(results), "unit-onehot")[3:7] == ["unmeasured", "", "", "unmeasured"]


def test_fewer_than_three_seeds_are_not_judged(results):
    for path in (results / "some-data" / "fidelity" / "keras").glob("unit-onehot-seed[12].json"):
        path.unlink()
    cells = row(fidelity.render(results), "unit-onehot")
    assert cells[3] == "92.35 % (n 1)" and cells[6].startswith("not yet")


def test_training_accuracy_where_the_runs_recorded_it(results):
    folder = results / "some-data" / "fidelity"
    write_runs(folder, "port", "seed003-unit-onehot", {0: 0.9163, 1: 0.9201, 2: 0.9232},
               train={0: 0.958, 1: 0.9585, 2: 0.959})
    write_runs(folder, "keras", "unit-onehot", {0: 0.9235, 1: 0.9190, 2: 0.9215},
               train={0: 0.961, 1: 0.9605, 2: 0.962})
    text = fidelity.render(results)
    assert row(text, "unit-onehot", 1) == ["`unit-onehot`", "20", "95.85 ± 0.05 % (n 3; 95.80-95.90)",
                                           "96.12 ± 0.08 % (n 3; 96.05-96.20)", "-0.27 pp"]
    assert row(text, "raw-onehot", 1)[2:] == ["unrecorded", "unrecorded", ""]
    assert row(text, "unit-onehot")[2] == "91.99 ± 0.35 % (n 3; 91.63-92.32)"  # the test accuracies as before


def test_keras_runs_that_repeat_one_batch_order_are_not_judged(results):
    """A seeded Keras 3 fit() on arrays repeats one batch order every epoch; the notebook's reshuffled. Files
    without a batch_order are such runs: shown, named in the Runs line, not judged."""
    folder = results / "some-data" / "fidelity" / "keras"
    for path in folder.glob("unit-onehot-seed*.json"):
        record = json.loads(path.read_text())
        del record["batch_order"]
        path.write_text(json.dumps(record))
    text = fidelity.render(results)
    assert row(text, "unit-onehot")[6] == "not judged: Keras' runs repeat one batch order"
    assert row(text, "raw-onehot")[6] == "outside"  # its Keras runs reshuffled
    assert "keras unit-onehot: seeds 0, 1, 2 (one order, repeated every epoch)" in text
    assert "keras raw-onehot: seeds 0, 1, 2 (a new permutation every epoch)" in text
