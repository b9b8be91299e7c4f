"""The TouchOSC layout: the .tosc parses, every address it sends is one the daemon serves, and
its scripts behave (run with lua5.4 against a fake of TouchOSC's script environment)."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOSC = ROOT / "scripts" / "touchosc" / "Soundalike.tosc"
OSC_DOC = ROOT / "docs" / "osc.md"
FAKE = Path(__file__).resolve().parent / "touchosc" / "fake_touchosc.lua"
LUA = shutil.which("lua5.4") or shutil.which("lua")

CONTROL_TYPES = {"BOX", "BUTTON", "LABEL", "TEXT", "FADER", "XY", "RADIAL", "ENCODER", "RADAR",
                 "RADIO", "GROUP", "PAGER", "GRID"}


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "make_layout", ROOT / "scripts" / "touchosc" / "make_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_layout = _load_generator()


def served_addresses() -> set[str]:
    """The request addresses of docs/osc.md's "Requests" table."""
    text = OSC_DOC.read_text(encoding="utf-8")
    section = text.split("## Requests", 1)[1].split("\n## ", 1)[0]
    addresses = set(re.findall(r"^\|\s*`(/soundalike/[^`\s]+)`\s*\|", section, re.M))
    assert "/soundalike/similar" in addresses and len(addresses) > 10
    return addresses


@pytest.fixture(scope="module")
def doc() -> ET.Element:
    return ET.fromstring(zlib.decompress(TOSC.read_bytes()))


def nodes(doc: ET.Element) -> list[ET.Element]:
    return list(doc.iter("node"))


def prop(node: ET.Element, key: str) -> ET.Element | None:
    for p in node.find("properties"):
        if p.findtext("key") == key:
            return p.find("value")
    return None


def name_of(node: ET.Element) -> str:
    return prop(node, "name").text


def by_name(doc: ET.Element) -> dict[str, ET.Element]:
    return {name_of(n): n for n in nodes(doc)}


def sent_messages(doc: ET.Element) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(control name, address, [(conversion, value), ...]) of every OSC message a control sends."""
    out = []
    for node in nodes(doc):
        for osc in node.find("messages").findall("osc"):
            if osc.findtext("send") != "1":
                continue
            path = "".join(p.findtext("value") for p in osc.find("path").findall("partial"))
            args = [(p.findtext("conversion"), p.findtext("value"))
                    for p in osc.find("arguments").findall("partial")]
            out.append((name_of(node), path, args))
    return out


def scripts(doc: ET.Element) -> dict[str, str]:
    return {name_of(n): prop(n, "script").text for n in nodes(doc) if prop(n, "script") is not None}


# ---------------------------------------------------------------- the file


def test_tosc_is_zlib_compressed_lexml_with_one_root_group(doc):
    assert doc.tag == "lexml" and doc.get("version") == "3"
    roots = doc.findall("node")
    assert len(roots) == 1 and roots[0].get("type") == "GROUP"
    assert name_of(roots[0]) == "Soundalike"


def test_every_control_is_well_formed(doc):
    ids = [n.get("ID") for n in nodes(doc)]
    assert len(ids) == len(set(ids)), "node IDs must be unique"
    for node in nodes(doc):
        assert node.get("type") in CONTROL_TYPES
        for part in ("properties", "values", "messages", "children"):
            assert node.find(part) is not None, (name_of(node), part)
        frame = prop(node, "frame")
        assert all(float(frame.findtext(k)) >= 0 for k in "xywh"), name_of(node)


def test_committed_tosc_is_a_fresh_build():
    assert zlib.decompress(TOSC.read_bytes()) == make_layout.xml_bytes()
    assert make_layout.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "Soundalike.tosc"
    stale.write_bytes(zlib.compress(b"<lexml version='3'/>"))
    assert make_layout.main(["--check", "--output", str(stale)]) == 1


# ---------------------------------------------------------------- addresses


def test_every_address_the_layout_sends_is_served_by_the_daemon(doc):
    served = served_addresses()
    sent = {address for _, address, _ in sent_messages(doc)}
    for source in scripts(doc).values():
        sent |= set(re.findall(r"sendOSC\(\{\s*'(/soundalike/[^']*)'", source))
        assert "sendOSC('" not in source, "use the table form, which sets argument types"
    assert {"/soundalike/similar", "/soundalike/subscribe", "/soundalike/rescan",
            "/soundalike/cursor/pick"} <= sent
    assert sent <= served, sent - served


def test_the_page_has_find_prev_next_pick_and_rescan(doc):
    messages = {name: (address, args) for name, address, args in sent_messages(doc)}
    assert messages["find"] == ("/soundalike/similar", [])  # the DAW's current selection
    assert messages["prev"] == ("/soundalike/cursor/prev", [])
    assert messages["next"] == ("/soundalike/cursor/next", [])
    assert messages["rescan"] == ("/soundalike/rescan", [])
    for n in range(1, 9):
        assert messages[f"row{n}"] == ("/soundalike/cursor/pick", [("INTEGER", str(n))])


def test_buttons_send_on_press_only(doc):
    for node in nodes(doc):
        for osc in node.find("messages").findall("osc"):
            triggers = [(t.findtext("var"), t.findtext("condition"))
                        for t in osc.find("triggers").findall("trigger")]
            assert triggers == [("x", "RISE")], name_of(node)


def test_labels_for_eight_results_with_scores_exist(doc):
    controls = by_name(doc)
    for n in range(1, 9):
        assert controls[f"name{n}"].get("type") == "LABEL"
        assert controls[f"score{n}"].get("type") == "LABEL"
        assert controls[f"row{n}"].get("type") == "BUTTON"
    root_script = scripts(doc)["Soundalike"]
    assert re.search(r"^SLOTS = 8$", root_script, re.M)
    for used in set(re.findall(r"setText\('(\w+)',", root_script)):
        assert used in controls, used


# ---------------------------------------------------------------- the scripts, under lua5.4

needs_lua = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed")


def run_lua(doc: ET.Element, script_owner: str, steps: str, tmp_path: Path) -> dict:
    script = tmp_path / "script.lua"
    script.write_text(scripts(doc)[script_owner], encoding="utf-8")
    names = ", ".join(f"'{n}'" for n in by_name(doc))
    steps_file = tmp_path / "steps.lua"
    steps_file.write_text(f"for _, n in ipairs({{{names}}}) do control(n) end\n" + steps,
                          encoding="utf-8")
    proc = subprocess.run([LUA, str(FAKE), str(script), str(steps_file)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def s(value: str) -> str:
    return "{tag='s', value=%s}" % json.dumps(value)


def i(value: int) -> str:
    return "{tag='i', value=%d}" % value


def f(value: float) -> str:
    return "{tag='f', value=%r}" % value


# what the root script sends to subscribe: the reply port, the similarity opt-in (for that port),
# then the subscription itself
SUBSCRIPTION = ["/soundalike/reply_to", "/soundalike/similarity", "/soundalike/subscribe"]


@needs_lua
def test_root_script_subscribes_for_slot_pushes_on_start(doc, tmp_path):
    result = run_lua(doc, "Soundalike", "init()\n", tmp_path)
    assert result["sent"] == [
        {"path": "/soundalike/reply_to", "args": [{"tag": "i", "value": 9002}]},
        {"path": "/soundalike/similarity", "args": [{"tag": "i", "value": 1}]},
        {"path": "/soundalike/subscribe",
         "args": [{"tag": "i", "value": 9002}, {"tag": "i", "value": 8}]}]
    assert result["controls"]["status"]["text"] == "Connecting to Soundalike..."


@needs_lua
def test_slot_pushes_fill_names_and_scores(doc, tmp_path):
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/slot/1', {{ {s('boom.wav')}, {{tag='f', value=0.934}} }})
receive('/soundalike/slot/2', {{ {s('thud 2.wav')}, {{tag='f', value=0.5}} }})
receive('/soundalike/slot/3', {{ {s('')}, {{tag='f', value=0}} }})
receive('/soundalike/slot/9', {{ {s('ignored')}, {{tag='f', value=0.1}} }})
""", tmp_path)
    c = result["controls"]
    assert (c["name1"]["text"], c["score1"]["text"]) == ("boom.wav", "0.93")
    assert (c["name2"]["text"], c["score2"]["text"]) == ("thud 2.wav", "0.50")
    assert (c["name3"]["text"], c["score3"]["text"]) == ("", "")


def scores(result: dict) -> list[str]:
    return [result["controls"][f"score{n}"]["text"] for n in range(1, 9)]


@needs_lua
def test_rows_show_the_calibrated_similarity_when_the_results_carry_it(doc, tmp_path):
    """,isff results (a model with a calibration) give their rows a percentage; a ,isf result
    keeps its score."""
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/results/begin', {{ {s('/s/kick 01.wav')}, {i(3)} }})
receive('/soundalike/result', {{ {i(1)}, {s('/lib/kicks/boom.wav')}, {f(0.934)}, {f(0.918)} }})
receive('/soundalike/result', {{ {i(2)}, {s('/lib/kicks/thud 2.wav')}, {f(0.871)}, {f(0.465)} }})
receive('/soundalike/result', {{ {i(3)}, {s('/lib/perc/knock.aif')}, {f(0.61)} }})
receive('/soundalike/results/end', {{ {s('/s/kick 01.wav')}, {i(3)} }})
receive('/soundalike/slot/1', {{ {s('kicks/boom.wav')}, {f(0.934)} }})
receive('/soundalike/slot/2', {{ {s('kicks/thud 2.wav')}, {f(0.871)} }})
receive('/soundalike/slot/3', {{ {s('perc/knock.aif')}, {f(0.61)} }})
receive('/soundalike/slot/4', {{ {s('')}, {f(0)} }})
""", tmp_path)
    assert scores(result)[:4] == ["92%", "47%", "0.61", ""]
    assert result["controls"]["name1"]["text"] == "kicks/boom.wav"


@needs_lua
def test_new_results_without_similarity_show_scores_again(doc, tmp_path):
    """Similarities belong to the results they came with: the next answer (from a model without
    calibration, or about other files) shows its own scores, and a slot whose label is not the
    result's is not given its similarity."""
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/results/begin', {{ {s('/s/a.wav')}, {i(2)} }})
receive('/soundalike/result', {{ {i(1)}, {s('/lib/kicks/boom.wav')}, {f(0.93)}, {f(0.9)} }})
receive('/soundalike/result', {{ {i(2)}, {s('/lib/kicks/thud.wav')}, {f(0.9)}, {f(0.8)} }})
receive('/soundalike/slot/1', {{ {s('kicks/boom.wav')}, {f(0.93)} }})
receive('/soundalike/slot/2', {{ {s('other/file.wav')}, {f(0.9)} }})
before = control('score1').values.text .. '|' .. control('score2').values.text
receive('/soundalike/results/begin', {{ {s('/s/b.wav')}, {i(1)} }})
receive('/soundalike/result', {{ {i(1)}, {s('/lib/kicks/boom.wav')}, {f(0.88)} }})
receive('/soundalike/slot/1', {{ {s('kicks/boom.wav')}, {f(0.88)} }})
control('status').values.text = before
""", tmp_path)
    assert result["controls"]["status"]["text"] == "90%|0.90"
    assert scores(result)[0] == "0.88"


@needs_lua
def test_a_cursor_with_a_similarity_shows_it_on_its_row(doc, tmp_path):
    """On subscribing the daemon sends the labels and the cursor only: a ,isff cursor gives its
    row the similarity; ,isf leaves the score."""
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/slot/1', {{ {s('kicks/boom.wav')}, {f(0.93)} }})
receive('/soundalike/slot/2', {{ {s('kicks/thud.wav')}, {f(0.9)} }})
receive('/soundalike/cursor', {{ {i(1)}, {s('/lib/kicks/boom.wav')}, {f(0.93)} }})
receive('/soundalike/cursor', {{ {i(2)}, {s('/lib/kicks/thud.wav')}, {f(0.9)}, {f(0.805)} }})
""", tmp_path)
    assert scores(result)[:2] == ["0.93", "81%"]
    colors = {n: result["controls"][f"row{n}"]["color"] for n in range(1, 9)}
    assert colors[2] != colors[1]


@needs_lua
def test_a_daemon_without_similarity_support_leaves_the_status_alone(doc, tmp_path):
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/subscribed', {{ {i(9002)}, {i(8)} }})
receive('/soundalike/error', {{ {s('/soundalike/similarity')}, {s('unknown address')} }})
""", tmp_path)
    assert result["controls"]["status"]["text"] == "Connected to Soundalike"


@needs_lua
def test_cursor_push_highlights_its_row(doc, tmp_path):
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/cursor', {{ {{tag='i', value=3}}, {s('/lib/knock.aif')}, {{tag='f', value=0.6}} }})
""", tmp_path)
    colors = {n: result["controls"][f"row{n}"]["color"] for n in range(1, 9)}
    assert colors[3] != colors[1] and all(colors[n] == colors[1] for n in (2, 4, 5, 6, 7, 8))


@needs_lua
def test_status_line_follows_the_daemon(doc, tmp_path):
    steps = f"""
init()
receive('/soundalike/subscribed', {{ {{tag='i', value=9002}}, {{tag='i', value=8}} }})
print_status = {{}}
local function snap() print_status[#print_status+1] = control('status').values.text end
snap()
receive('/soundalike/selected', {{ {s('/samples/kick 01.wav')} }}); snap()
receive('/soundalike/progress', {{ {{tag='i', value=120}}, {{tag='i', value=4}}, {s('indexing')} }}); snap()
receive('/soundalike/error', {{ {s('/soundalike/similar')}, {s('no such file')} }}); snap()
receive('/soundalike/results/begin', {{ {s('/samples/kick 01.wav')}, {{tag='i', value=8}} }})
control('status').values.text = table.concat(print_status, '|')
"""
    result = run_lua(doc, "Soundalike", steps, tmp_path)
    assert result["controls"]["status"]["text"].split("|") == [
        "Connected to Soundalike", "Selected: samples/kick 01.wav",
        "120 indexed, 4 pending, indexing", "Error: no such file (/soundalike/similar)"]
    assert result["controls"]["query"]["text"] == "Like: samples/kick 01.wav"
    assert result["controls"]["link"]["text"] == "online"


@needs_lua
def test_resubscribes_periodically_and_on_connect(doc, tmp_path):
    result = run_lua(doc, "Soundalike", """
init()
receive('/soundalike/subscribed', { {tag='i', value=9002}, {tag='i', value=8} })
advance(10000); update()
advance(20000); update()
receive('/soundalike/subscribed', { {tag='i', value=9002}, {tag='i', value=8} })
root:notify('subscribe')
""", tmp_path)
    assert [m["path"] for m in result["sent"]] == SUBSCRIPTION * 3


@needs_lua
def test_an_unanswered_subscription_says_the_daemon_is_unreachable_and_retries(doc, tmp_path):
    result = run_lua(doc, "Soundalike", """
init()
advance(2000); update()
local early = control('status').values.text
advance(1500); update()
offline = control('status').values.text .. '|' .. control('link').values.text
advance(5000); update()          -- tries again sooner than every 30 s while unreachable
receive('/soundalike/subscribed', { {tag='i', value=9002}, {tag='i', value=8} })
control('status').values.text = early .. '#' .. offline .. '#' .. control('status').values.text
""", tmp_path)
    early, offline, back = result["controls"]["status"]["text"].split("#")
    assert early == "Connecting to Soundalike..."
    text, link = offline.split("|")
    assert text.startswith("No answer from Soundalike: is `soundalike serve` running")
    assert link == "OFFLINE"
    assert back == "Connected to Soundalike" and result["controls"]["link"]["text"] == "online"
    assert [m["path"] for m in result["sent"]] == SUBSCRIPTION * 2


@needs_lua
def test_a_cleared_selection_says_so(doc, tmp_path):
    result = run_lua(doc, "Soundalike", f"""
init()
receive('/soundalike/selected', {{ {s('')} }})
""", tmp_path)
    assert result["controls"]["status"]["text"] == "Nothing selected in the DAW"


@needs_lua
def test_connect_button_asks_the_root_to_subscribe(doc, tmp_path):
    result = run_lua(doc, "connect", "press('connect')\n", tmp_path)
    assert result["notified"] == [{"target": "root", "key": "subscribe"}]


@needs_lua
def test_unknown_messages_are_left_alone(doc, tmp_path):
    result = run_lua(doc, "Soundalike", """
init()
handled = receive('/other/app', {})
control('status').values.text = tostring(handled)
""", tmp_path)
    assert result["controls"]["status"]["text"] == "false"
