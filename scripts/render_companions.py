#!/usr/bin/env python3
"""Draw the companions' faces to PNG from their sources, for docs/daw.md.

- the Max for Live device: the presentation layout of max_for_live/Soundalike.maxpat (every box
  shown in presentation mode, at its presentation_rect, drawn by its kind: comments, buttons,
  toggles, number boxes, the dial, the results menu, the host field);
- the TouchOSC page: the controls of scripts/touchosc/Soundalike.tosc (frames, colours, label
  texts and sizes);
- the REAPER result browser: the script's own draw function (scripts/reaper/), run with lua5.4
  against a gfx that records what it draws.

The results menu and the TouchOSC rows are empty in the sources (the daemon fills them), so the
pictures show them filled with EXAMPLE results, drawn in the way the device and the page show
real ones from a model with a calibration (folder/name and the calibrated similarity as a
percentage; the scores are the cosines, the similarities what the shipped model's
calibration.json makes of them).

    python scripts/render_companions.py            # writes docs/images/*.png
    python scripts/render_companions.py --out DIR

Needs Pillow (pip install pillow; it is in the `docs` extra) and, for the REAPER picture, lua5.4.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAXPAT = ROOT / "max_for_live" / "Soundalike.maxpat"
TOSC = ROOT / "scripts" / "touchosc" / "Soundalike.tosc"
REAPER_SCRIPT = ROOT / "scripts" / "reaper" / "soundalike_find_similar.lua"
OUT = ROOT / "docs" / "images"

EXAMPLE = [("kicks/boom.wav", 0.93, 0.85), ("808 kit/kick hard.wav", 0.91, 0.83),
           ("kicks/thud 2.wav", 0.87, 0.71), ("one shots/low tom.aif", 0.84, 0.66),
           ("perc/knock.flac", 0.80, 0.58), ("kicks/sub 1.wav", 0.78, 0.57),
           ("vinyl/kick 03.wav", 0.75, 0.51), ("perc/box.wav", 0.71, 0.46)]
EXAMPLE_QUERY = "drums/kick 01.wav"


def _font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "Arial.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


# ---------------------------------------------------------------- Max for Live device

LIVE_BG, LIVE_PANEL, LIVE_TEXT = (30, 30, 30), (55, 55, 55), (210, 210, 210)
LIVE_BUTTON, LIVE_ORANGE = (80, 80, 80), (255, 166, 0)


def presented_boxes(patcher: dict) -> list[dict]:
    return [b["box"] for b in patcher["boxes"] if b["box"].get("presentation") == 1]


def _initial(box: dict):
    try:
        return box["saved_attribute_attributes"]["valueof"]["parameter_initial"][0]
    except (KeyError, IndexError):
        return None


def render_device(maxpat: Path = MAXPAT, scale: int = 2):
    """(image, [(maxclass, text), ...] drawn) for the device's presentation layout."""
    from PIL import Image, ImageDraw

    patcher = json.loads(maxpat.read_text(encoding="utf-8"))["patcher"]
    boxes = presented_boxes(patcher)
    width = int(patcher.get("devicewidth") or 420)
    height = int(max(b["presentation_rect"][1] + b["presentation_rect"][3] for b in boxes)) + 6
    title_h = 18
    img = Image.new("RGB", ((width + 8) * scale, (height + title_h + 8) * scale), LIVE_BG)
    d = ImageDraw.Draw(img)
    font = _font(9 * scale)
    small = _font(8 * scale)
    d.rectangle([0, 0, img.width, title_h * scale], fill=(70, 70, 70))
    d.text((6 * scale, 3 * scale), "Soundalike", fill=LIVE_TEXT, font=font)
    ox, oy = 4, title_h + 4
    d.rectangle([ox * scale, oy * scale, (ox + width) * scale, (oy + height) * scale], fill=LIVE_PANEL)
    drawn = []
    for box in boxes:
        x, y, w, h = box["presentation_rect"]
        r = [(ox + x) * scale, (oy + y) * scale, (ox + x + w) * scale, (oy + y + h) * scale]
        kind = box["maxclass"]
        text = box.get("text", "")
        if kind == "comment":
            if box.get("id") == "obj-8":
                text = EXAMPLE_QUERY  # the selected clip, as the script shows it
            elif box.get("id") == "obj-9":
                text = f"{len(EXAMPLE)} samples like {EXAMPLE_QUERY}"
            d.text((r[0], r[1] + 2 * scale), text, fill=LIVE_TEXT, font=font)
        elif kind == "live.text":
            d.rounded_rectangle(r, radius=3 * scale, fill=LIVE_BUTTON, outline=(110, 110, 110))
            tw = d.textlength(text, font=font)
            d.text(((r[0] + r[2] - tw) / 2, r[1] + 4 * scale), text, fill=LIVE_TEXT, font=font)
        elif kind == "live.toggle":
            on = bool(_initial(box))
            d.rectangle(r, fill=LIVE_ORANGE if on else LIVE_BUTTON, outline=(120, 120, 120))
        elif kind == "live.numbox":
            d.rectangle(r, fill=(40, 40, 40), outline=(110, 110, 110))
            d.text((r[0] + 3 * scale, r[1] + 2 * scale), str(_initial(box)), fill=LIVE_ORANGE,
                   font=small)
        elif kind == "live.dial":
            d.arc([r[0] + 4 * scale, r[1], r[2] - 4 * scale, r[3] - 8 * scale], 135, 405,
                  fill=(110, 110, 110), width=3 * scale)
            d.arc([r[0] + 4 * scale, r[1], r[2] - 4 * scale, r[3] - 8 * scale], 135, 135 + 270 * 0.7,
                  fill=LIVE_ORANGE, width=3 * scale)
            label = box.get("varname", "")
            tw = d.textlength(label, font=small)
            d.text(((r[0] + r[2] - tw) / 2, r[3] - 9 * scale), label, fill=LIVE_TEXT, font=small)
        elif kind == "umenu":
            d.rectangle(r, fill=(40, 40, 40), outline=(110, 110, 110))
            path, _, similarity = EXAMPLE[0]
            d.text((r[0] + 4 * scale, r[1] + 5 * scale), f"{path}  {similarity:.0%}", fill=LIVE_TEXT,
                   font=font)
            d.polygon([(r[2] - 12 * scale, r[1] + 8 * scale), (r[2] - 4 * scale, r[1] + 8 * scale),
                       (r[2] - 8 * scale, r[1] + 13 * scale)], fill=LIVE_TEXT)
            text = "results menu"
        elif kind == "textedit":
            d.rectangle(r, fill=(40, 40, 40), outline=(110, 110, 110))
            d.text((r[0] + 3 * scale, r[1] + 3 * scale), text, fill=LIVE_TEXT, font=small)
        else:
            d.rectangle(r, outline=(200, 60, 60))
            d.text((r[0] + 2, r[1] + 2), kind, fill=(200, 60, 60), font=small)
        drawn.append((kind, text))
    return img, drawn


# ---------------------------------------------------------------- TouchOSC page

def _prop(node: ET.Element, key: str) -> ET.Element | None:
    for p in node.find("properties"):
        if p.findtext("key") == key:
            return p.find("value")
    return None


def _color(value: ET.Element | None, default=(0, 0, 0, 0)) -> tuple[int, int, int, int]:
    if value is None:
        return default
    return tuple(int(round(float(value.findtext(k)) * 255)) for k in ("r", "g", "b", "a"))


def _frame(node: ET.Element) -> tuple[float, float, float, float]:
    f = _prop(node, "frame")
    return tuple(float(f.findtext(k)) for k in ("x", "y", "w", "h"))


def _text(node: ET.Element) -> str:
    for v in node.find("values"):
        if v.findtext("key") == "text":
            return v.findtext("default") or ""
    return ""


def render_touchosc(tosc: Path = TOSC, scale: float = 0.75):
    """(image, [(type, name), ...] drawn) for the TouchOSC layout."""
    from PIL import Image, ImageDraw

    doc = ET.fromstring(zlib.decompress(tosc.read_bytes()))
    root = doc.find("node")
    _, _, w, h = _frame(root)
    img = Image.new("RGBA", (int(w * scale), int(h * scale)), _color(_prop(root, "color")))
    d = ImageDraw.Draw(img)
    example = {f"name{n}": p for n, (p, _, _) in enumerate(EXAMPLE, 1)}
    example.update({f"score{n}": f"{sim:.0%}" for n, (_, _, sim) in enumerate(EXAMPLE, 1)})
    example.update({"query": f"Like: {EXAMPLE_QUERY}", "link": "online",
                    "status": f"Selected: {EXAMPLE_QUERY}"})
    drawn = []
    for node in root.find("children").findall("node"):
        kind, name = node.get("type"), _prop(node, "name").text
        x, y, fw, fh = (v * scale for v in _frame(node))
        box = [x, y, x + fw, y + fh]
        if kind == "BUTTON":
            color = _color(_prop(node, "color"))
            if name == "row1":
                color = (242, 140, 38, 255)  # the cursor's row, as the root script colours it
            d.rounded_rectangle(box, radius=6 * scale, fill=color)
        elif kind == "LABEL":
            text = _text(node) or example.get(name, "")
            size = int(int(_prop(node, "textSize").text) * scale)
            font = _font(size)
            align = int(_prop(node, "textAlignH").text)
            tw = d.textlength(text, font=font)
            tx = {1: x + 4, 2: x + (fw - tw) / 2, 3: x + fw - tw - 4}.get(align, x + 4)
            d.text((tx, y + (fh - size) / 2), text, fill=_color(_prop(node, "textColor")), font=font)
        drawn.append((kind, name))
    return img.convert("RGB"), drawn


# ---------------------------------------------------------------- REAPER result browser

# Runs the script's draw() with a gfx that prints what it draws, one JSON object a line.
_LUA_DRIVER = r"""
local script, results = arg[1], arg[2]
local color = {1, 1, 1, 1}
local function emit(t) io.write(string.format('{"op":"%s","x":%g,"y":%g,"w":%g,"h":%g,"c":[%g,%g,%g,%g],"text":%q}\n',
  t.op, t.x or 0, t.y or 0, t.w or 0, t.h or 0, color[1], color[2], color[3], color[4], t.text or '')) end
gfx = { x = 0, y = 0, w = 476, h = 288, mouse_cap = 0 }
function gfx.set(r, g, b, a) color = {r, g, b, a or 1} end
function gfx.rect(x, y, w, h) emit({ op = 'rect', x = x, y = y, w = w, h = h }) end
function gfx.drawstr(text) emit({ op = 'text', x = gfx.x, y = gfx.y, text = text }) end
function gfx.update() end
reaper = {}
SOUNDALIKE_AS_MODULE = true
local M = dofile(script)
M.ui.results = {}
for line in io.lines(results) do
  local score, similarity, path = line:match('^(%S+) (%S+) (.*)$')
  M.ui.results[#M.ui.results + 1] = { path = path, score = tonumber(score),
                                      similarity = tonumber(similarity) }
end
M.ui.cursor = 2
M.ui.header = 'Like ' .. M.label('/x/drums/kick 01.wav') .. ' - ' .. #M.ui.results .. ' samples, best first'
M.ui.status = string.format('2. %s  %s', M.label(M.ui.results[2].path), M.score_text(M.ui.results[2]))
M.draw()
"""


def render_reaper(script: Path = REAPER_SCRIPT, scale: float = 1.5):
    """(image, [(op, text), ...] drawn) for the REAPER script's result browser."""
    from PIL import Image, ImageDraw
    import tempfile

    lua = shutil.which("lua5.4") or shutil.which("lua")
    if lua is None:
        raise RuntimeError("the REAPER picture needs lua5.4")
    with tempfile.TemporaryDirectory() as tmp:
        driver, results = Path(tmp) / "draw.lua", Path(tmp) / "results.txt"
        driver.write_text(_LUA_DRIVER, encoding="utf-8")
        results.write_text("".join(f"{s} {sim} /Samples/{p}\n" for p, s, sim in EXAMPLE),
                           encoding="utf-8")
        out = subprocess.run([lua, str(driver), str(script), str(results)], capture_output=True,
                             text=True, check=True).stdout
    ops = [json.loads(line) for line in out.splitlines() if line.strip()]
    height = max(op["y"] + max(op["h"], 20) for op in ops) + 8
    background = tuple(int(round(c * 255)) for c in ops[0]["c"][:3])  # draw() clears first
    img = Image.new("RGB", (int(476 * scale), int(height * scale)), background)
    d = ImageDraw.Draw(img)
    font = _font(int(11 * scale))
    for op in ops:
        fill = tuple(int(round(c * 255)) for c in op["c"][:3])
        if op["op"] == "rect":
            d.rectangle([op["x"] * scale, op["y"] * scale, (op["x"] + op["w"]) * scale,
                         (op["y"] + op["h"]) * scale], fill=fill)
        else:
            d.text((op["x"] * scale, op["y"] * scale), op["text"], fill=fill, font=font)
    return img, [(op["op"], op["text"]) for op in ops]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("needs Pillow: pip install pillow", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (img, _) in (("max_for_live_device.png", render_device()),
                           ("touchosc_page.png", render_touchosc()),
                           ("reaper_browser.png", render_reaper())):
        img.save(args.out / name, optimize=True)
        print(f"wrote {args.out / name} ({img.width}x{img.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
