"""The build report renders in a real headless browser (Debian's chromium): tables, and plots that decode.

Needs ``apt-get install -y chromium``; skipped with the reason when no chromium binary is found.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=timeout, text=True)


def test_report_renders_tables_and_plots(demo_build, tmp_path):
    url = (demo_build / "report" / "index.html").resolve().as_uri()
    dom = _chromium(["--dump-dom", url]).stdout
    assert len(re.findall(r"<table\b", dom)) >= 7
    assert len(re.findall(r"<svg\b", dom)) >= 5
    assert "Where dropped documents went" in dom

    png = tmp_path / "shot.png"
    r = _chromium([f"--screenshot={png}", "--window-size=1280,2000", url])
    assert png.exists() and png.stat().st_size > 20_000, r.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(str(png))[..., :3]  # floats in [0, 1]
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    non_white = (img.min(axis=2) < 0.9).mean()
    assert non_white > 0.03, f"page looks blank ({non_white:.1%} non-white pixels)"

    def near(rgb_hex: str) -> int:
        rgb = np.array([int(rgb_hex[i : i + 2], 16) for i in (0, 2, 4)]) / 255.0
        return int((np.abs(img - rgb).max(axis=2) < 0.06).sum())

    # the charts were painted: bars in the plots' colours cover many pixels
    assert near("2da44e") > 2000, "no green bars: the in/out or tokens-per-row plot did not render"
    assert near("0969da") > 2000, "no blue bars: the drops or document-length plot did not render"
    # table borders (#d0d7de) are painted
    assert near("d0d7de") > 2000
