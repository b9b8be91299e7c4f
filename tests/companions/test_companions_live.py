"""The companions together, against a real daemon: a real OscServer (MFCC encoder, tiny WAVs)
on real UDP, announced in a data dir as `soundalike serve` does, so that the real CLI finds it.

- the Max for Live device's script runs under Node with real UDP (m4l/live_bridge.js);
- the REAPER script runs under lua5.4 (reaper/fake_reaper.lua), running the real CLI;
- the TouchOSC root script runs under lua5.4 (touchosc/fake_touchosc.lua) on what really
  reached TouchOSC's port, whose buttons' messages (read from the .tosc) are really sent.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.osc_wire import encode
from tests.waiting import wait_for

from osc_helpers import (Client, library_setup, no_leaked_threads,  # noqa: F401
                         served_data_dir)
import test_m4l_device as m4l
import test_m4l_patcher as patcher
import test_reaper_script as reaper_tests
import test_touchosc_layout as tosc

ROOT = Path(__file__).resolve().parents[2]
LIVE_BRIDGE = Path(__file__).resolve().parent / "m4l" / "live_bridge.js"
LUA = shutil.which("lua5.4") or shutil.which("lua")

pytestmark = pytest.mark.skipif(LUA is None or shutil.which("node") is None,
                                reason="needs lua5.4 and node")


def label(path: str) -> str:
    return "/".join(path.split("/")[-2:])


@pytest.fixture
def daemon(served_data_dir):
    return served_data_dir


# a calibration (cosine -> similarity) unlike the identity, so shown similarities are not scores
CALIBRATION = {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 0.9]}


@pytest.fixture
def calibrated_daemon(tmp_path, mfcc_model_dir):
    """As served_data_dir, on a model with a calibration.json: (server, data dir, samples)."""
    from bridge.backend import DaemonBackend
    from bridge.client import write_daemon_file
    from bridge.server import OscServer
    from engine import Library, calibration
    from engine.indexer import Indexer
    from osc_helpers import make_samples

    model = tmp_path / "model"
    shutil.copytree(mfcc_model_dir, model)
    calibration.save(model, CALIBRATION)
    samples = make_samples(tmp_path / "samples")
    lib = Library(tmp_path / "library-data", model_dir=model)
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        indexer.add_root(str(tmp_path / "samples"))
        assert indexer.wait_idle(60)
        data = tmp_path / "data"
        data.mkdir()
        with OscServer(DaemonBackend(lib, indexer), port=0) as srv:
            write_daemon_file(data, *srv.address)
            yield srv, str(data), [str(p) for p in samples]
    finally:
        indexer.stop()
        lib.close()


def percent(similarity: float) -> str:
    return f"{int(similarity * 100 + 0.5)}%"


# ---------------------------------------------------------------- the three companions


class Device:
    """The Max for Live device's script, live on the network."""

    def __init__(self, lom: dict, daemon_port: int) -> None:
        spec = {"script": str(m4l.SCRIPT), "lom": lom, "options": {}}
        self.proc = subprocess.Popen(["node", str(LIVE_BRIDGE), json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reply_port = reaper_tests._free_port()
        self.do(do="message", name="port", args=[daemon_port])
        self.do(do="message", name="replyport", args=[self.reply_port])
        self.do(do="thisdevice")
        self.do(do="tasks")

    def do(self, **step) -> None:
        self.proc.stdin.write(json.dumps(step) + "\n")
        self.proc.stdin.flush()

    def snapshot(self) -> dict:
        self.do(do="snapshot")
        return json.loads(self.proc.stdout.readline())

    def wait(self, predicate, message: str) -> dict:
        return wait_for(lambda: (lambda r: r if predicate(r) else None)(self.snapshot()),
                        timeout=60, message=message)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class TouchOSC:
    """The TouchOSC page: its socket on the receive port, its root script run on what arrived."""

    def __init__(self, server, tmp_path: Path, doc) -> None:
        self.client = Client(server.address)
        self.port = self.client.port
        self.tmp_path, self.doc = tmp_path, doc
        self.received: list = []
        self.buttons = {name: (address, args) for name, address, args in tosc.sent_messages(doc)}
        for m in self.run("")["sent"]:  # what init() sends, sent for real
            self.client.send(m["path"], *[a["value"] for a in m["args"]])

    def steps(self) -> str:
        lines = [f"REPLY_PORT = {self.port}", "init()"]
        for m in self.received:
            args = ", ".join("{tag=%s, value=%s}" % (json.dumps(t), json.dumps(v, ensure_ascii=False))
                             for t, v in zip(m.tags, m.args))
            lines.append(f"receive({json.dumps(m.address)}, {{ {args} }})")
        return "\n".join(lines) + "\n"

    def run(self, extra: str) -> dict:
        return tosc.run_lua(self.doc, "Soundalike", self.steps() + extra, self.tmp_path)

    def press(self, name: str) -> None:
        address, args = self.buttons[name]
        self.client.send(address, *[int(v) for _, v in args])

    def collect(self, until=None, message: str = "a message") -> None:
        def got():
            self.received += self.client.drain(0.05)
            return until is None or any(until(m) for m in self.received)
        wait_for(got, timeout=30, message=message)

    def page(self) -> dict:
        return self.run("")["controls"]

    def rows(self) -> list[str]:
        page = self.page()
        return [page[f"name{n}"]["text"] for n in range(1, 9)]

    def close(self) -> None:
        self.client.close()


def run_reaper(tmp_path: Path, data: str, file: str, steps: list, **settings) -> dict:
    scenario = {"settings": {"command": [sys.executable, "-m", "bridge"],
                             "extra_args": ["--data-dir", data], "temp_dir": str(tmp_path),
                             **settings},
                "item": {"track": 1, "take": {"file": file}}, "selected_track": 1,
                "steps": steps, "max_cycles": 6000}
    return reaper_tests.run_reaper(tmp_path, scenario, reaper_tests._bridge_env())


def clip_set(clip_file: str) -> dict:
    lom = m4l.live_set()
    lom["objects"]["100"]["props"]["file_path"] = clip_file
    return lom


@pytest.fixture
def doc():
    return tosc.ET.fromstring(tosc.zlib.decompress(tosc.TOSC.read_bytes()))


# ---------------------------------------------------------------- the tests


def test_result_lists_are_kept_apart(daemon, tmp_path, doc):
    srv, data, samples = daemon
    page = TouchOSC(srv, tmp_path, doc)
    device = Device(clip_set(samples[0]), srv.address[1])
    try:
        # the device's clip is queried in the shared daw list: TouchOSC shows those results
        shown = device.wait(lambda r: r["state"]["resultsQuery"] == samples[0]
                            and len(r["state"]["results"]) == 7, "the device's results")
        device_results = [r["path"] for r in shown["state"]["results"]]
        page.collect(lambda m: m.address == "/soundalike/cursor", "TouchOSC's results")
        before = page.rows()
        assert before == [label(p) for p in device_results] + [""]  # 8 rows, 7 other samples
        # a model without calibration: no similarity comes, and both show the scores
        assert all(r["similarity"] is None for r in shown["state"]["results"])
        scores = [page.page()[f"score{n}"]["text"] for n in range(1, 8)]
        assert all(re.fullmatch(r"-?\d\.\d\d", t) for t in scores), scores

        # a REAPER query, private by default, changes neither
        record = run_reaper(tmp_path, data, samples[5], [{"when": "best first", "close": True}])
        assert record["ui"]["results"] == 7 and record["messages"] == []
        page.collect(lambda m: m.address == "/soundalike/selected" and m.args == (samples[5],),
                     "REAPER's selection")
        assert page.rows() == before
        assert not [m for m in page.received if m.address == "/soundalike/results/begin"
                    and m.args[0] == samples[5]]
        after = device.snapshot()
        assert [r["path"] for r in after["state"]["results"]] == device_results

        # the shared cursor is still over the device's results: TouchOSC's Next moves the device
        page.press("next")
        device.wait(lambda r: r["state"]["cursor"] == 1, "the device following TouchOSC's Next")

        # asked to answer in the daw list, REAPER's results show on both
        run_reaper(tmp_path, data, samples[5], [{"when": "best first", "close": True}],
                   list="daw")
        device.wait(lambda r: r["state"]["resultsQuery"] == samples[5], "REAPER's results")
        page.collect(lambda m: m.address == "/soundalike/results/begin" and m.args[0] == samples[5],
                     "REAPER's results on TouchOSC")
    finally:
        device.close()
        page.close()


def test_every_companion_shows_the_calibrated_similarity(calibrated_daemon, tmp_path, doc):
    """On a model with a calibration each companion asks for the similarity and shows it as a
    percentage: the device in its menu, TouchOSC in its rows, REAPER (through the CLI) in its
    window."""
    from engine import calibration

    srv, data, samples = calibrated_daemon
    page = TouchOSC(srv, tmp_path, doc)
    device = Device(clip_set(samples[0]), srv.address[1])
    try:
        shown = device.wait(lambda r: r["state"]["resultsQuery"] == samples[0]
                            and len(r["state"]["results"]) == 7, "the device's results")
        results = shown["state"]["results"]
        for r in results:  # what the daemon computed with the model's calibration
            assert r["similarity"] == pytest.approx(float(calibration.apply(CALIBRATION,
                                                                            r["score"])), abs=1e-3)
        menu = [o[2] for o in shown["outlets"] if o[0] == m4l.MENU and o[1] == "append"]
        assert menu[-7:] == [f"{label(r['path'])}  {percent(r['similarity'])}" for r in results]

        page.collect(lambda m: m.address == "/soundalike/cursor", "TouchOSC's results")
        controls = page.page()
        assert [controls[f"name{n}"]["text"] for n in range(1, 8)] == \
            [label(r["path"]) for r in results]
        assert [controls[f"score{n}"]["text"] for n in range(1, 8)] == \
            [percent(r["similarity"]) for r in results]

        record = run_reaper(tmp_path, data, samples[3], [{"when": "best first", "close": True}])
        assert record["ui"]["results"] == 7 and record["messages"] == []
        drawn = [i["text"] for i in record["inks"]]
        assert len([t for t in drawn if re.fullmatch(r"\d+%", t)]) == 7, drawn
        assert re.search(r"  \d+%$", record["ui"]["status"])
    finally:
        device.close()
        page.close()


def test_touchosc_follows_the_selection_reaper_reports(daemon, tmp_path, doc):
    srv, data, samples = daemon
    page = TouchOSC(srv, tmp_path, doc)
    try:
        page.collect(lambda m: m.address == "/soundalike/subscribed", "the subscription")
        assert page.page()["link"]["text"] == "online"
        record = run_reaper(tmp_path, data, samples[3], [
            {"when": "best first", "key": "down"},
            {"when": "2%. samples/", "key": "enter"},
            {"when": "Inserted", "close": True}])
        # audition, then insert, of what the real daemon answered
        inserted = record["inserts"][0]["path"]
        assert [a["path"] for a in record["auditions"]][-1] == inserted
        assert reaper_tests.events(record, "audition", "insert")[-1] == ("insert", inserted)

        page.collect(lambda m: m.address == "/soundalike/selected" and m.args == (samples[3],),
                     "REAPER's selection on TouchOSC")
        assert page.page()["status"]["text"] == "Selected: " + label(samples[3])
        page.press("find")   # Find similar: the DAW's selection, which REAPER reported
        page.collect(lambda m: m.address == "/soundalike/cursor", "the results")
        controls = page.page()
        assert controls["query"]["text"] == "Like: " + label(samples[3])
        rows = [controls[f"name{n}"]["text"] for n in range(1, 8)]
        assert all(r.startswith("samples/") for r in rows) and label(samples[3]) not in rows
        assert label(inserted) in rows
    finally:
        page.close()


def test_touchosc_says_when_the_daemon_is_unreachable(tmp_path, doc):
    with Client(("127.0.0.1", reaper_tests._free_port())) as nobody:
        class Nowhere:
            address = nobody.server
        page = TouchOSC(Nowhere, tmp_path, doc)
        try:
            page.collect(message="anything")  # nothing answers
            controls = page.run("advance(3500); update()\n")["controls"]
            assert controls["link"]["text"] == "OFFLINE"
            assert controls["status"]["text"].startswith("No answer from Soundalike")
        finally:
            page.close()


@pytest.mark.parametrize("make_lom, device_id", [(m4l.simpler_set, 50), (m4l.drum_set, 64)],
                         ids=["simpler", "drum-rack-pad"])
def test_hot_swap_with_the_daemons_answers_and_back(daemon, make_lom, device_id):
    srv, data, samples = daemon
    lom = make_lom()
    sample_id = str(lom["objects"][str(device_id)]["children"]["sample"])
    lom["objects"][sample_id]["props"]["file_path"] = samples[2]
    lom["objects"]["100"]["props"]["file_path"] = samples[6]  # the clip: something else
    device = Device(lom, srv.address[1])
    try:
        device.do(do="message", name="swap", args=[1])
        device.do(do="message", name="next")
        first = device.wait(lambda r: any(c["function"] == "replace_sample" for c in r["calls"]),
                            "the first swap")
        results = [r["path"] for r in first["state"]["results"]]
        assert first["state"]["resultsQuery"] == samples[2] and samples[2] not in results
        device.do(do="message", name="next")
        device.do(do="message", name="original")
        done = device.snapshot()
        swaps = [c["args"][0] for c in done["calls"] if c["function"] == "replace_sample"]
        assert swaps == [results[0], results[1], samples[2]]
        assert all(c["id"] == device_id for c in done["calls"] if c["function"] == "replace_sample")
        assert done["lom"]["objects"][sample_id]["props"]["file_path"] == samples[2]
        assert done["violations"] == [] and done["errors"] == []
    finally:
        device.close()


def test_a_mono_result_previews_in_stereo(daemon):
    sf = pytest.importorskip("soundfile")
    srv, data, samples = daemon
    device = Device(clip_set(samples[0]), srv.address[1])
    try:
        shown = device.wait(lambda r: len(r["state"]["results"]) == 7, "the results")
        device.do(do="mark", label="pick")
        device.do(do="message", name="pick", args=[0])
        record = device.snapshot()
    finally:
        device.close()
    sent = [o for o in record["outlets"][record["marks"]["pick"]:] if o[0] in (m4l.PLAYER, m4l.INFO)]
    path = shown["state"]["results"][0]["path"]
    assert sent == [[m4l.INFO, "open", path], [m4l.PLAYER, "open", path], [m4l.PLAYER, 1]]
    info = sf.info(path)
    assert info.channels == 1
    level = [1.0] * info.channels   # what sfplay~ puts out for this file
    maxpat = json.loads(patcher.MAXPAT.read_text(encoding="utf-8"))["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in maxpat["boxes"]}
    wires = {(l["patchline"]["source"][0], l["patchline"]["source"][1],
              l["patchline"]["destination"][0], l["patchline"]["destination"][1])
             for l in maxpat["lines"]}
    left, right = patcher._preview_output(boxes, wires, level)
    assert left > 0 and right == pytest.approx(left)
