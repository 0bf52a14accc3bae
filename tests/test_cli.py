"""The `fmnist` command's help, and progress bars: drawn on a terminal only, one line per epoch in logs."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, free_port
from fmnist.cli import COMMANDS, main
from fmnist.console import progress_bars


def test_help_gives_each_command_a_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        line = next(line for line in out.splitlines() if line.startswith(f"  {name} "))
        assert len(line.split()) > 3, line  # the name and a description


def test_bare_fmnist_prints_the_help_not_an_error():
    proc = subprocess.run([str(Path(sys.executable).parent / "fmnist")], capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stderr
    assert proc.stdout.startswith("usage: fmnist") and "check-params" in proc.stdout


def test_progress_setting_and_tqdm_disable(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress_bars(True) is True and progress_bars(False) is False
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bars(True) is False and progress_bars("auto") is False
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert progress_bars(True) is True


@pytest.fixture
def train_project(prepared, tmp_path):
    """A folder the train stage runs in: params.yaml of one tiny experiment and its prepared variant."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())  # the real params, shrunk
    raw["data"].update(dataset="idx-dir", source=str(prepared / "src"))
    raw["prepare"].update(normalisations=["unit"], encodings=["sparse"], val_size=100)
    raw["train"].update(epochs=2, batch_size=20, device="cpu")
    raw["experiments"] = {"tiny": {"model": "tiny", "variant": "unit-sparse"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    (tmp_path / "data/prepared").mkdir(parents=True)
    (tmp_path / "data/prepared/unit-sparse").symlink_to(prepared / "unit-sparse")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}  # no server: one warning
    env.pop("TQDM_DISABLE", None)
    return tmp_path, env


def train(folder: Path, env: dict, terminal: bool) -> str:
    """Run the train stage; its stdout and stderr together, through a pseudo-terminal when `terminal`."""
    cmd = [sys.executable, str(ROOT / "stages/train.py"), "tiny"]
    if not terminal:
        proc = subprocess.run(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.returncode == 0, proc.stdout.decode()[-2000:]
        return proc.stdout.decode()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 0 columns: tqdm draws nothing
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # the stage closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait() == 0, out.decode()[-2000:]
    return out.decode()


def test_logs_get_one_line_per_epoch_and_no_bar(train_project):
    folder, env = train_project
    out = train(folder, env, terminal=False)
    assert "\r" not in out
    epochs = [line.split(":")[0] for line in out.splitlines() if line.startswith("tiny epoch ")]
    assert epochs == ["tiny epoch 1/2", "tiny epoch 2/2"]


def test_terminal_gets_bars_unless_tqdm_disable_or_the_param_says_no(train_project):
    folder, env = train_project
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["train"]["epochs"] = 1
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    bars = train(folder, env, terminal=True).replace("\r\n", "\n")  # a terminal ends lines with \r\n
    assert "\r" in bars and "tiny 1/1:" in bars  # the bar, redrawn in place
    assert "\r" not in train(folder, {**env, "TQDM_DISABLE": "1"}, terminal=True).replace("\r\n", "\n")
    (folder / "params.yaml").write_text(yaml.safe_dump({**params, "progress": False}))
    assert "\r" not in train(folder, env, terminal=True).replace("\r\n", "\n")
