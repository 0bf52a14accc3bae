"""The HTML report opens in headless Chromium (Debian's package) and renders a non-blank page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import apt_install
from test_report import project  # noqa: F401  (the fixture: a tiny project with its report built)

CHROMIUM = Path("/usr/bin/chromium")
BANNER = (255, 244, 206)  # the synthetic banner's background (#fff4ce in report.CSS)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing (needs root and the package mirror)."""
    if not CHROMIUM.exists():
        apt_install("chromium")
    return CHROMIUM


def screenshot(chromium: Path, page: Path, png: Path, profile: Path, size=(1280, 2000)) -> Image.Image:
    cmd = [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
           page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and png.exists(), f"chromium failed:\n{proc.stderr[-2000:]}"
    return Image.open(png).convert("RGB")


def test_report_renders_in_chromium(chromium, project, tmp_path):  # noqa: F811
    # A copy of the page alone: it must not need anything next to it.
    page = tmp_path / "page" / "report.html"
    page.parent.mkdir()
    shutil.copy(project / "reports" / "report.html", page)
    image = screenshot(chromium, page, tmp_path / "shot.png", tmp_path / "profile")
    assert image.size == (1280, 2000)
    pixels = np.asarray(image)
    colours = {tuple(c) for c in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 200, f"only {len(colours)} colours: a blank or broken page"
    not_white = (pixels.min(axis=2) < 240).mean()
    assert not_white > 0.05, f"only {not_white:.1%} of the page is not white"
    # The synthetic banner is drawn near the top of the page.
    top = pixels[:400].reshape(-1, 3)
    assert (np.abs(top.astype(int) - BANNER).max(axis=1) <= 2).mean() > 0.01, "no synthetic banner at the top"
