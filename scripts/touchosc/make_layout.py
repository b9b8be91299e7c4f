#!/usr/bin/env python3
"""Generate the Soundalike TouchOSC layout (scripts/touchosc/Soundalike.tosc).

A .tosc file of the current TouchOSC is a zlib-compressed XML document: a <lexml version="3">
root holding one <node type="GROUP"> (the document's root control), and every control a
<node ID=... type=...> with <properties>, <values>, <messages> and <children>.

The page: "Find similar" (queries the DAW's current selection: /soundalike/similar with no
arguments), Prev / Next (move the daemon's result cursor), eight result rows (tap one to pick
that rank; labels filled by the daemon's /soundalike/slot/N pushes, each with its calibrated
similarity as a percentage when the daemon sends one, else its score), Rescan, Connect
(subscribe again) and a status line. The root script (soundalike_root.lua) subscribes on start.

    python scripts/touchosc/make_layout.py           # writes scripts/touchosc/Soundalike.tosc
    python scripts/touchosc/make_layout.py --check   # exit 1 if the committed file is stale
"""
from __future__ import annotations

import argparse
import sys
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT_SCRIPT = HERE / "soundalike_root.lua"
TARGET = HERE / "Soundalike.tosc"

WIDTH, HEIGHT = 1024, 768
SLOTS = 8

BACKGROUND = (0.08, 0.09, 0.11, 1.0)
BUTTON = (0.25, 0.45, 0.85, 1.0)
ROW = (0.16, 0.18, 0.22, 1.0)
WHITE = (1.0, 1.0, 1.0, 1.0)
GREY = (0.7, 0.72, 0.76, 1.0)

CONNECT_SCRIPT = """-- Connect: ask the root script to subscribe to the daemon again.
function onValueChanged(key)
  if key == 'x' and self.values.x == 1 then
    root:notify('subscribe')
  end
end
"""


def node_id(name: str) -> str:
    """Stable IDs, so that the same source always makes the same file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"soundalike-touchosc/{name}"))


def number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def add_property(properties: ET.Element, kind: str, key: str, value) -> None:
    prop = ET.SubElement(properties, "property", type=kind)
    ET.SubElement(prop, "key").text = key
    v = ET.SubElement(prop, "value")
    if kind == "r":
        for k, x in zip("xywh", value):
            ET.SubElement(v, k).text = number(x)
    elif kind == "c":
        for k, x in zip("rgba", value):
            ET.SubElement(v, k).text = number(float(x))
    elif kind == "b":
        v.text = "1" if value else "0"
    else:
        v.text = str(value)


def add_value(values: ET.Element, key: str, default) -> None:
    v = ET.SubElement(values, "value")
    for k, text in [("key", key), ("locked", "0"), ("lockedDefaultCurrent", "0"),
                    ("default", default), ("defaultPull", "0")]:
        ET.SubElement(v, k).text = text


def partial(parent: ET.Element, kind: str, conversion: str, value: str) -> None:
    p = ET.SubElement(parent, "partial")
    for k, text in [("type", kind), ("conversion", conversion), ("value", value),
                    ("scaleMin", "0"), ("scaleMax", "1")]:
        ET.SubElement(p, k).text = text


def add_osc(messages: ET.Element, address: str, int_args: tuple[int, ...] = ()) -> None:
    """An OSC message sent on connection 1 when the control's x value rises (a press)."""
    osc = ET.SubElement(messages, "osc")
    for k, text in [("enabled", "1"), ("send", "1"), ("receive", "0"), ("feedback", "0"),
                    ("connections", "00001")]:
        ET.SubElement(osc, k).text = text
    trigger = ET.SubElement(ET.SubElement(osc, "triggers"), "trigger")
    ET.SubElement(trigger, "var").text = "x"
    ET.SubElement(trigger, "condition").text = "RISE"
    partial(ET.SubElement(osc, "path"), "CONSTANT", "STRING", address)
    arguments = ET.SubElement(osc, "arguments")
    for a in int_args:
        partial(arguments, "CONSTANT", "INTEGER", str(a))


def control(parent: ET.Element, kind: str, name: str, frame, color, **props) -> ET.Element:
    node = ET.SubElement(parent, "node", ID=node_id(name), type=kind)
    properties = ET.SubElement(node, "properties")
    add_property(properties, "s", "name", name)
    add_property(properties, "r", "frame", frame)
    add_property(properties, "c", "color", color)
    for key, (k, value) in props.items():
        add_property(properties, k, key, value)
    ET.SubElement(node, "values")
    ET.SubElement(node, "messages")
    ET.SubElement(node, "children")
    return node


def label(parent: ET.Element, name: str, frame, text: str = "", size: int = 20,
          align: int = 1, color=GREY) -> ET.Element:
    node = control(parent, "LABEL", name, frame, (0.0, 0.0, 0.0, 0.0),
                   background=("b", False), outline=("b", False), interactive=("b", False),
                   textSize=("i", size), textColor=("c", color), textAlignH=("i", align))
    add_value(node.find("values"), "text", text)
    return node


def button(parent: ET.Element, name: str, frame, color, address: str | None,
           int_args: tuple[int, ...] = (), script: str | None = None) -> ET.Element:
    props = {"buttonType": ("i", 0), "press": ("b", True), "release": ("b", True),
             "outline": ("b", True), "background": ("b", True)}
    if script:
        props["script"] = ("s", script)
    node = control(parent, "BUTTON", name, frame, color, **props)
    add_value(node.find("values"), "x", "0")
    add_value(node.find("values"), "touch", "false")
    if address:
        add_osc(node.find("messages"), address, int_args)
    return node


def captioned_button(parent, name, caption, frame, address, script=None):
    button(parent, name, frame, BUTTON, address, script=script)
    label(parent, f"{name}_caption", frame, caption, size=24, align=2, color=WHITE)


def layout(root_script: str) -> ET.Element:
    doc = ET.Element("lexml", version="3")
    root = ET.SubElement(doc, "node", ID=node_id("root"), type="GROUP")
    properties = ET.SubElement(root, "properties")
    add_property(properties, "s", "name", "Soundalike")
    add_property(properties, "r", "frame", (0, 0, WIDTH, HEIGHT))
    add_property(properties, "c", "color", BACKGROUND)
    add_property(properties, "b", "background", True)
    add_property(properties, "s", "script", root_script)
    ET.SubElement(root, "values")
    ET.SubElement(root, "messages")
    children = ET.SubElement(root, "children")

    label(children, "title", (20, 10, 300, 40), "Soundalike", size=28, color=WHITE)
    label(children, "query", (330, 10, 520, 40), "", size=20)
    label(children, "link", (860, 10, 144, 40), "", size=20, align=3)  # reachable or not

    captioned_button(children, "find", "Find similar", (20, 60, 240, 80), "/soundalike/similar")
    captioned_button(children, "prev", "Prev", (280, 60, 160, 80), "/soundalike/cursor/prev")
    captioned_button(children, "next", "Next", (460, 60, 160, 80), "/soundalike/cursor/next")
    captioned_button(children, "rescan", "Rescan", (640, 60, 160, 80), "/soundalike/rescan")
    captioned_button(children, "connect", "Connect", (820, 60, 184, 80), None,
                     script=CONNECT_SCRIPT)

    for n in range(1, SLOTS + 1):
        y = 160 + (n - 1) * 66
        button(children, f"row{n}", (20, y, 984, 58), ROW, "/soundalike/cursor/pick", (n,))
        label(children, f"rank{n}", (30, y, 50, 58), f"{n}.", size=22, color=GREY)
        label(children, f"name{n}", (80, y, 760, 58), "", size=22, color=WHITE)
        label(children, f"score{n}", (850, y, 140, 58), "", size=22, align=3, color=GREY)

    label(children, "status", (20, 700, 984, 50), "", size=18)
    return doc


def xml_bytes(root_script: str | None = None) -> bytes:
    if root_script is None:
        root_script = ROOT_SCRIPT.read_text(encoding="utf-8")
    return ET.tostring(layout(root_script), encoding="UTF-8", xml_declaration=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the output differs from a fresh build")
    args = parser.parse_args(argv)
    data = xml_bytes()
    if args.check:
        if not args.output.exists() or zlib.decompress(args.output.read_bytes()) != data:
            print(f"{args.output} is stale: run python scripts/touchosc/make_layout.py",
                  file=sys.stderr)
            return 1
        return 0
    args.output.write_bytes(zlib.compress(data, 9))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
