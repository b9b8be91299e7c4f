"""The device's patcher has the objects and connections soundalike.js expects, and the committed
.amxd is a fresh build of it."""
from __future__ import annotations

import importlib.util
import json
import re
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAXPAT = ROOT / "max_for_live" / "Soundalike.maxpat"
AMXD = ROOT / "max_for_live" / "Soundalike.amxd"
SCRIPT = ROOT / "max_for_live" / "soundalike.js"


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_amxd", ROOT / "scripts" / "build_amxd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_amxd = _load_builder()


@pytest.fixture(scope="module")
def patcher() -> dict:
    return json.loads(MAXPAT.read_text(encoding="utf-8"))["patcher"]


@pytest.fixture(scope="module")
def boxes(patcher) -> dict[str, dict]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


@pytest.fixture(scope="module")
def wires(patcher) -> set[tuple[str, int, str, int]]:
    return {(l["patchline"]["source"][0], l["patchline"]["source"][1],
             l["patchline"]["destination"][0], l["patchline"]["destination"][1])
            for l in patcher["lines"]}


def find(boxes: dict, text: str | None = None, maxclass: str | None = None) -> list[str]:
    return [i for i, b in boxes.items()
            if (text is None or b.get("text") == text)
            and (maxclass is None or b["maxclass"] == maxclass)]


def one(boxes: dict, text: str | None = None, maxclass: str | None = None) -> str:
    found = find(boxes, text, maxclass)
    assert len(found) == 1, f"expected one {maxclass or ''} {text or ''}, found {found}"
    return found[0]


def sources_into(wires, boxes, dest: str, inlet: int = 0) -> list[str]:
    return [s for s, _, d, i in wires if d == dest and i == inlet]


def js_functions() -> set[str]:
    return set(re.findall(r"^function (\w+)\(", SCRIPT.read_text(encoding="utf-8"), re.M))


def test_every_wire_joins_existing_boxes_within_their_inlets_and_outlets(boxes, wires):
    for src, outlet, dst, inlet in wires:
        assert src in boxes and dst in boxes, (src, dst)
        assert 0 <= outlet < boxes[src]["numoutlets"], (src, outlet)
        assert 0 <= inlet < boxes[dst]["numinlets"], (dst, inlet)


def test_js_object_has_the_outlets_the_script_declares(boxes):
    js = one(boxes, "js soundalike.js")
    declared = re.search(r"^outlets = (\d+);", SCRIPT.read_text(encoding="utf-8"), re.M)
    assert boxes[js]["numoutlets"] == int(declared.group(1)) == 7


def test_the_script_outlets_go_where_the_script_says(boxes, wires):
    js = one(boxes, "js soundalike.js")
    source = SCRIPT.read_text(encoding="utf-8")
    outlet_of = {name: int(n) for name, n in re.findall(r"^var (OUT_\w+) = (\d+);", source, re.M)}
    expected = {
        "OUT_OSC": one(boxes, "udpsend 127.0.0.1 9000"),
        "OUT_RECEIVER": one(boxes, "udpreceive 9001"),
        "OUT_MENU": one(boxes, maxclass="umenu"),
        "OUT_PLAYER": one(boxes, "sfplay~ 2"),
        "OUT_INFO": one(boxes, "sfinfo~"),
    }
    for name, dest in expected.items():
        assert (js, outlet_of[name], dest, 0) in wires, name
    for name in ("OUT_STATUS", "OUT_SELECTED"):
        dests = [d for s, o, d, _ in wires if s == js and o == outlet_of[name]]
        assert len(dests) == 1 and boxes[dests[0]]["maxclass"] == "comment", name


def test_init_comes_from_live_thisdevice(boxes, wires):
    js = one(boxes, "js soundalike.js")
    device = one(boxes, "live.thisdevice")
    init = one(boxes, "init", "message")
    assert (device, 0, init, 0) in wires and (init, 0, js, 0) in wires


def test_osc_from_udpreceive_reaches_the_script_through_deferlow(boxes, wires):
    js = one(boxes, "js soundalike.js")
    receiver = one(boxes, "udpreceive 9001")
    defer = one(boxes, "deferlow")
    assert (receiver, 0, defer, 0) in wires and (defer, 0, js, 0) in wires


def test_every_message_into_the_script_has_a_handler(boxes, wires):
    js = one(boxes, "js soundalike.js")
    handlers = js_functions()
    selectors = set()
    for src in sources_into(wires, boxes, js):
        box = boxes[src]
        if box["maxclass"] == "message":
            selectors.add(box["text"].split()[0])
        elif box.get("text", "").startswith("prepend "):
            selectors.add(box["text"].split()[1])
    assert selectors == {"init", "search", "load", "prev", "next", "play", "stop", "pick", "auto",
                         "audition", "port", "replyport", "count", "host", "swap", "original"}
    assert selectors <= handlers, selectors - handlers
    assert "anything" in handlers  # OSC addresses from [udpreceive]


def test_buttons_send_their_messages(boxes, wires):
    js = one(boxes, "js soundalike.js")
    for label, message in [("Find", "search"), ("Load", "load"), ("Prev", "prev"),
                           ("Next", "next"), ("Play", "play"), ("Stop", "stop"),
                           ("Original", "original")]:
        button = [i for i in find(boxes, maxclass="live.text") if boxes[i]["text"] == label]
        assert len(button) == 1, label
        assert boxes[button[0]]["mode"] == 0, f"{label} must be a button, not a toggle"
        assert boxes[button[0]].get("presentation") == 1, label
        msg = one(boxes, message, "message")
        assert (button[0], 0, msg, 0) in wires and (msg, 0, js, 0) in wires


def test_menu_clicks_pick_results(boxes, wires):
    menu = one(boxes, maxclass="umenu")
    pick = one(boxes, "prepend pick")
    assert (menu, 0, pick, 0) in wires


def test_settings_reach_the_script(boxes, wires):
    js = one(boxes, "js soundalike.js")
    for varname, selector in [("Daemon port", "port"), ("Reply port", "replyport"),
                              ("Results", "count"), ("Auto", "auto"), ("Audition", "audition"),
                              ("Swap", "swap"), ("host", "host")]:
        control = [i for i, b in boxes.items() if b.get("varname") == varname]
        assert len(control) == 1, varname
        prepend = one(boxes, f"prepend {selector}")
        assert (control[0], 0, prepend, 0) in wires and (prepend, 0, js, 0) in wires
        assert boxes[control[0]].get("presentation") == 1, varname


def test_default_ports_match_the_script_and_the_osc_reference(boxes):
    source = SCRIPT.read_text(encoding="utf-8")
    assert re.search(r"port: 9000,", source) and re.search(r"replyPort: 9001,", source)
    initial = {b.get("varname"): b["saved_attribute_attributes"]["valueof"]["parameter_initial"]
               for b in boxes.values() if b["maxclass"] == "live.numbox"}
    assert initial["Daemon port"] == [9000] and initial["Reply port"] == [9001]


def test_preview_plays_through_the_device_output_with_the_track_audio(boxes, wires):
    player = one(boxes, "sfplay~ 2")
    plugin = one(boxes, "plugin~")
    plugout = one(boxes, "plugout~")
    gains = find(boxes, "*~ 0.7")
    assert len(gains) == 2
    assert {(player, 0, gains[0], 0), (player, 1, gains[1], 0)} <= wires
    assert {(gains[0], 0, plugout, 0), (gains[1], 0, plugout, 1)} <= wires
    assert {(plugin, 0, plugout, 0), (plugin, 1, plugout, 1)} <= wires


def _preview_output(boxes, wires, channels: list[float]) -> tuple[float, float]:
    """What reaches the device's two outputs (plugout~'s inlets) while [sfplay~] plays a file
    whose channels carry these constant levels, with silence on the track.

    A small evaluator of the patcher's own boxes and wires: signal connections into an inlet
    add up; [sfinfo~] reports the file's channel count (the script sends it "open" first);
    control values set a [*~]'s right inlet (else its argument); [live.dial]s sit at their
    initial value."""
    def into(dest: str, inlet: int) -> list[tuple[str, int]]:
        return [(s, o) for s, o, d, i in wires if d == dest and i == inlet]

    def control(box_id: str, outlet: int) -> float:
        box = boxes[box_id]
        text = box.get("text", "")
        if text == "sfinfo~":
            return float(len(channels)) if outlet == 0 else 0.0
        if text.startswith("== "):
            (src,) = into(box_id, 0)
            return 1.0 if control(*src) == float(text.split()[1]) else 0.0
        if box["maxclass"] == "live.dial":
            return float(box["saved_attribute_attributes"]["valueof"]["parameter_initial"][0])
        raise AssertionError(f"no control value for {text or box['maxclass']}")

    def signal(box_id: str, outlet: int) -> float:
        text = boxes[box_id].get("text", "")
        if text.startswith("sfplay~"):
            return channels[outlet] if outlet < len(channels) else 0.0  # extra outlets: 0
        if text == "plugin~":
            return 0.0
        if text.startswith("*~"):
            gains = into(box_id, 1)
            gain = control(*gains[0]) if gains else float(text.split()[1])
            return gain * sum(signal(*src) for src in into(box_id, 0))
        raise AssertionError(f"no signal for {text}")

    plugout = one(boxes, "plugout~")
    return tuple(sum(signal(*src) for src in into(plugout, n)) for n in (0, 1))


def test_a_mono_file_previews_in_both_ears(boxes, wires):
    left, right = _preview_output(boxes, wires, [1.0])
    assert left > 0 and right == pytest.approx(left)


def test_a_stereo_file_keeps_its_channels_apart(boxes, wires):
    left, right = _preview_output(boxes, wires, [1.0, 0.25])
    assert right == pytest.approx(left * 0.25) and left > 0


def test_patcher_opens_in_presentation_and_names_its_script(patcher):
    assert patcher["openinpresentation"] == 1
    assert any(d["name"] == "soundalike.js" for d in patcher["dependency_cache"])


# ---------------------------------------------------------------- the .amxd


def test_committed_amxd_is_a_fresh_build_of_the_patcher():
    fresh = build_amxd.build(MAXPAT.read_text(encoding="utf-8"), "audio_effect")
    assert AMXD.read_bytes() == fresh, "run: python scripts/build_amxd.py"
    assert build_amxd.main(["--check"]) == 0


def test_amxd_chunks_are_ampf_meta_ptch():
    chunks = build_amxd.read_chunks(AMXD.read_bytes())
    assert [tag for tag, _ in chunks] == [b"ampf", b"meta", b"ptch"]
    assert chunks[0][1] == b"aaaa"  # an audio effect: previews mix into the track
    assert chunks[1][1] == struct.pack("<I", 0)
    ptch = chunks[2][1]
    assert ptch.endswith(b"\x00")
    assert json.loads(ptch[:-1].decode("utf-8")) == json.loads(MAXPAT.read_text(encoding="utf-8"))


def test_check_fails_on_a_stale_device(tmp_path):
    stale = tmp_path / "Soundalike.amxd"
    stale.write_bytes(AMXD.read_bytes()[:-10])
    assert build_amxd.main(["--check", "--output", str(stale)]) == 1
    assert build_amxd.main(["--output", str(stale)]) == 0
    assert stale.read_bytes() == AMXD.read_bytes()


def test_read_chunks_rejects_truncation():
    with pytest.raises(ValueError):
        build_amxd.read_chunks(AMXD.read_bytes()[:20])
