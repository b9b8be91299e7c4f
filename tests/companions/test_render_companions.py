"""scripts/render_companions.py draws every control of each companion from its source."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("PIL")

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("render_companions",
                                              ROOT / "scripts" / "render_companions.py")
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)


def test_the_device_picture_draws_every_presented_box():
    img, drawn = render.render_device()
    patcher = json.loads(render.MAXPAT.read_text(encoding="utf-8"))["patcher"]
    presented = render.presented_boxes(patcher)
    assert len(drawn) == len(presented) and len(presented) > 20
    assert {k for k, _ in drawn} <= {"comment", "live.text", "live.toggle", "live.numbox",
                                     "live.dial", "umenu", "textedit"}  # no unknown kinds
    assert ("live.text", "Original") in drawn and ("comment", "Swap: Prev/Next in Simpler") in drawn
    assert img.width >= 2 * patcher["devicewidth"]


def test_the_touchosc_picture_draws_every_control():
    img, drawn = render.render_touchosc()
    names = {n for _, n in drawn}
    assert {"find", "prev", "next", "rescan", "connect", "status", "link", "query"} <= names
    assert {f"name{n}" for n in range(1, 9)} <= names
    assert img.size == (768, 576)


@pytest.mark.skipif(shutil.which("lua5.4") is None, reason="lua5.4 is not installed")
def test_the_reaper_picture_is_the_scripts_own_drawing():
    img, drawn = render.render_reaper()
    texts = [t for op, t in drawn if op == "text"]
    assert " 1.  kicks/boom.wav" in texts and " 2.  808 kit/kick hard.wav" in texts
    assert any(t.startswith("Up/Down or N/P: audition") for t in texts)
    assert "85%" in texts and "0.93" not in texts  # the example model has a calibration


def test_main_writes_the_three_pictures(tmp_path):
    if shutil.which("lua5.4") is None:
        pytest.skip("lua5.4 is not installed")
    assert render.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "max_for_live_device.png", "reaper_browser.png", "touchosc_page.png"]
