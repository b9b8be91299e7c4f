"""The Max for Live device's JavaScript, run under Node against a recording fake of Max and Live.

Each test builds a small fake Live set (the LOM objects the script touches), drives the script
the way the patcher and Live would (live.thisdevice, observer notifications, OSC messages from
[udpreceive], button messages) and asserts on what came out of the [js] outlets and which Live
functions were called.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "max_for_live" / "soundalike.js"
RUNNER = Path(__file__).resolve().parent / "m4l" / "run_scenario.js"

OSC, RECEIVER, MENU, PLAYER, STATUS, SELECTED = range(6)

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

CLIP_PATH = "/samples/drums/kick 01.wav"
OTHER_CLIP_PATH = "/samples/drums/snare 02.wav"


def live_set() -> dict:
    """A Live set: an audio track (Drums) with 4 clip slots, a MIDI track (Keys) with a Simpler."""
    slot_functions = ["create_audio_clip", "create_clip", "fire", "stop", "delete_clip"]
    objects = {
        "3": {"type": "Application", "path": "live_app", "props": {}, "children": {},
              "functions": ["get_major_version", "get_minor_version", "get_bugfix_version"],
              "returns": {"get_major_version": 12, "get_minor_version": 1,
                          "get_bugfix_version": 0}},
        "1": {"type": "Song", "path": "live_set", "props": {},
              "children": {"view": 2, "tracks": [10, 11]}},
        "2": {"type": "Song.View", "path": "live_set view", "props": {},
              "children": {"detail_clip": 100, "selected_track": 10,
                           "highlighted_clip_slot": 21}},
        "10": {"type": "Track", "path": "live_set tracks 0",
               "props": {"name": "Drums", "has_audio_input": 1, "is_frozen": 0},
               "children": {"clip_slots": [20, 21, 22, 23], "view": 12}},
        "12": {"type": "Track.View", "path": "live_set tracks 0 view", "props": {},
               "children": {"selected_device": 30}},
        "30": {"type": "MaxDevice", "path": "live_set tracks 0 devices 0",
               "props": {"class_name": "MxDeviceAudioEffect",
                         "name": "Soundalike"},
               "children": {}},
        "11": {"type": "Track", "path": "live_set tracks 1",
               "props": {"name": "Keys", "has_audio_input": 0, "is_frozen": 0},
               "children": {"clip_slots": [40], "view": 13, "devices": [50]}},
        "13": {"type": "Track.View", "path": "live_set tracks 1 view", "props": {},
               "children": {"selected_device": 50}},
        "50": {"type": "SimplerDevice", "path": "live_set tracks 1 devices 0",
               "props": {"class_name": "OriginalSimpler", "name": "Simpler"},
               "children": {"sample": 51}, "functions": ["crop", "reverse", "replace_sample"]},
        "51": {"type": "Sample", "path": "live_set tracks 1 devices 0 sample",
               "props": {"file_path": "/old/sample.wav"}, "children": {}},
        "40": {"type": "ClipSlot", "path": "live_set tracks 1 clip_slots 0",
               "props": {"has_clip": 0}, "children": {"clip": 0}, "functions": slot_functions},
        "100": {"type": "Clip", "path": "live_set tracks 0 clip_slots 1 clip",
                "props": {"is_audio_clip": 1, "file_path": CLIP_PATH, "name": "kick 01"},
                "children": {}},
        "102": {"type": "Clip", "path": "live_set tracks 0 clip_slots 0 clip",
                "props": {"is_audio_clip": 1, "file_path": OTHER_CLIP_PATH, "name": "snare 02"},
                "children": {}},
        "101": {"type": "Clip", "path": "live_set tracks 1 clip_slots 3 clip",
                "props": {"is_audio_clip": 0, "is_midi_clip": 1, "name": "chords"},
                "children": {}},
    }
    for index, (slot_id, has_clip) in enumerate([(20, 1), (21, 1), (22, 0), (23, 0)]):
        objects[str(slot_id)] = {"type": "ClipSlot", "path": f"live_set tracks 0 clip_slots {index}",
                                 "props": {"has_clip": has_clip},
                                 "children": {"clip": 102 if index == 0 else (100 if index == 1 else 0)},
                                 "functions": list(slot_functions)}
    return {"roots": {"live_set": 1, "live_app": 3}, "objects": objects}


def run(steps: list[dict], lom: dict | None = None, **options) -> dict:
    spec = {"script": str(SCRIPT), "lom": lom or live_set(), "options": options, "steps": steps}
    proc = subprocess.run(["node", str(RUNNER)], input=json.dumps(spec), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def mutations(record: dict) -> list[dict]:
    """The Live functions called, leaving out the read-only get_* queries."""
    return [c for c in record["calls"] if not c["function"].startswith("get_")]


def out(record: dict, n: int, since: str | None = None, until: str | None = None) -> list[list]:
    """What left outlet n (without the outlet number), optionally between two marks."""
    start = record["marks"][since] if since else 0
    end = record["marks"][until] if until else len(record["outlets"])
    return [o[1:] for o in record["outlets"][start:end] if o[0] == n]


def osc(record: dict, since: str | None = None, until: str | None = None) -> list[list]:
    return [m for m in out(record, OSC, since, until) if str(m[0]).startswith("/")]


def text_of(message: list) -> str:
    assert message[0] == "set"
    return " ".join(str(w) for w in message[1:])


def results_steps(query: str, items: list[tuple]) -> list[dict]:
    """The daemon's answer: items are (path, score), sent ,isf, or (path, score, similarity),
    sent ,isff (a client that asked for the calibrated similarity, on a model with one)."""
    steps = [{"do": "message", "name": "/soundalike/results/begin", "args": [query, len(items)]}]
    for rank, item in enumerate(items, start=1):
        steps.append({"do": "message", "name": "/soundalike/result", "args": [rank, *item]})
    steps.append({"do": "message", "name": "/soundalike/results/end", "args": [query, len(items)]})
    return steps


START = [{"do": "thisdevice"}, {"do": "tasks"}]
RESULTS = [("/lib/kicks/boom.wav", 0.93), ("/lib/kicks/thud 2.wav", 0.87),
           ("/lib/perc/knock.aif", 0.61)]
CALIBRATED = [("/lib/kicks/boom.wav", 0.93, 0.918), ("/lib/kicks/thud 2.wav", 0.87, 0.7149),
              ("/lib/perc/knock.aif", 0.61, 0.254)]


# ---------------------------------------------------------------- LOM rules


def test_no_live_api_before_live_thisdevice():
    record = run([
        {"do": "message", "name": "port", "args": [9100]},
        {"do": "message", "name": "replyport", "args": [9101]},
        {"do": "message", "name": "auto", "args": [1]},
        {"do": "message", "name": "load"},
        {"do": "message", "name": "search"},
    ])
    assert record["violations"] == []
    assert record["observers"] == []


def test_observes_detail_clip_of_the_song_view():
    record = run(START)
    assert record["observers"] == [{"id": 2, "property": "detail_clip"}]
    assert record["violations"] == [] and record["errors"] == []


def test_selection_change_is_handled_in_a_task_not_in_the_notification():
    record = run(START + [
        {"do": "mark", "label": "notified"},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 102]},
        {"do": "mark", "label": "tasks"},
        {"do": "tasks"},
    ])
    assert osc(record, "notified", "tasks") == []
    assert ["/soundalike/select", OTHER_CLIP_PATH] in osc(record, "tasks")
    assert record["violations"] == []


# ---------------------------------------------------------------- selection in, OSC out


def test_selected_audio_clip_is_sent_and_queried():
    record = run(START)
    messages = osc(record)
    assert ["/soundalike/reply_to", 9001] in messages
    assert ["/soundalike/subscribe", 9001] in messages
    select = messages.index(["/soundalike/select", CLIP_PATH])
    similar = messages.index(["/soundalike/similar", CLIP_PATH, 10])
    assert select < similar
    assert text_of(out(record, SELECTED)[-1]) == "drums/kick 01.wav"
    # udpsend and udpreceive are pointed at the configured ports first
    assert out(record, OSC)[:2] == [["host", "127.0.0.1"], ["port", 9000]]
    assert out(record, RECEIVER) == [["port", 9001]]


def test_a_new_selection_sends_its_path():
    record = run(START + [
        {"do": "mark", "label": "changed"},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 102]},
        {"do": "tasks"},
    ])
    messages = osc(record, "changed")
    assert ["/soundalike/select", OTHER_CLIP_PATH] in messages
    assert ["/soundalike/similar", OTHER_CLIP_PATH, 10] in messages


def test_quick_successive_selections_send_only_the_last():
    record = run(START + [
        {"do": "mark", "label": "changed"},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 100]},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 102]},
        {"do": "tasks"},
    ])
    selects = [m for m in osc(record, "changed") if m[0] == "/soundalike/select"]
    assert selects == [["/soundalike/select", OTHER_CLIP_PATH]]


def test_midi_clip_and_no_clip_send_nothing():
    record = run(START + [
        {"do": "mark", "label": "midi"},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 101]},
        {"do": "tasks"},
        {"do": "mark", "label": "none"},
        {"do": "notify", "id": 2, "property": "detail_clip", "args": ["detail_clip", "id", 0]},
        {"do": "tasks"},
        {"do": "mark", "label": "search"},
        {"do": "message", "name": "search"},
    ])
    assert osc(record, "midi") == []
    assert "MIDI clip" in text_of(out(record, SELECTED, "midi")[0])
    assert text_of(out(record, SELECTED, "none")[0]) == "No clip selected"
    assert text_of(out(record, STATUS, "search")[-1]) == "Select an audio clip first"


def test_auto_off_selects_without_querying_until_find():
    record = run([{"do": "message", "name": "auto", "args": [0]}] + START + [
        {"do": "mark", "label": "find"},
        {"do": "message", "name": "search"},
    ])
    before = osc(record, until="find")
    assert ["/soundalike/select", CLIP_PATH] in before
    assert not any(m[0] == "/soundalike/similar" for m in before)
    assert ["/soundalike/similar", CLIP_PATH, 10] in osc(record, "find")


def test_paths_with_spaces_survive_a_split_symbol():
    record = run(START, splitSymbols=True)
    assert ["/soundalike/select", CLIP_PATH] in osc(record)


def test_ports_host_and_count_are_settable():
    record = run(START + [
        {"do": "mark", "label": "set"},
        {"do": "message", "name": "host", "args": ["text", "192.168.1.20"]},
        {"do": "message", "name": "port", "args": [9100.0]},
        {"do": "message", "name": "replyport", "args": [9101]},
        {"do": "message", "name": "count", "args": [500]},
        {"do": "message", "name": "search"},
    ])
    sent = out(record, OSC, "set")
    assert ["host", "192.168.1.20"] in sent
    assert ["port", 9100] in sent
    assert out(record, RECEIVER, "set") == [["port", 9101]]
    assert ["/soundalike/reply_to", 9101] in sent
    assert ["/soundalike/subscribe", 9101] in sent
    assert ["/soundalike/similar", CLIP_PATH, 100] in sent  # capped like the daemon
    assert record["config"]["host"] == "192.168.1.20"


def test_bad_port_is_refused_with_a_message():
    record = run(START + [{"do": "mark", "label": "bad"},
                          {"do": "message", "name": "port", "args": [0]}])
    assert out(record, OSC, "bad") == []
    assert "1 to 65535" in text_of(out(record, STATUS, "bad")[-1])
    record = run(START + [{"do": "mark", "label": "bad"},
                          {"do": "message", "name": "replyport", "args": [70000]}])
    assert out(record, RECEIVER, "bad") == []
    assert "Reply port must be 1 to 65535" in text_of(out(record, STATUS, "bad")[-1])


def test_subscription_is_renewed_before_the_daemon_expires_it():
    # the daemon ends a subscription an hour after its last renewal (bridge/routes.py)
    from bridge.routes import SUBSCRIPTION_TTL

    record = run(START + [{"do": "mark", "label": "later"}, {"do": "interval"}])
    assert ["/soundalike/subscribe", 9001] in osc(record, "later")
    assert ["/soundalike/reply_to", 9001] in osc(record, "later")
    assert 0 < record["intervals"][0] / 1000 < SUBSCRIPTION_TTL / 2


def registrations(messages: list[list]) -> list[list]:
    return [m for m in messages if m[0] in ("/soundalike/reply_to", "/soundalike/similarity",
                                            "/soundalike/subscribe")]


def test_the_calibrated_similarity_is_asked_for_whenever_the_device_registers():
    """reply_to, then /soundalike/similarity 1 (which belongs to the reply port), then subscribe
    (whose cursor then carries it): at start, on every renewal, and before every query, so a
    restarted daemon is asked again before it answers."""
    registration = [["/soundalike/reply_to", 9001], ["/soundalike/similarity", 1],
                    ["/soundalike/subscribe", 9001]]
    record = run(START + [{"do": "mark", "label": "later"}, {"do": "interval"},
                          {"do": "mark", "label": "search"}, {"do": "message", "name": "search"},
                          {"do": "mark", "label": "port"},
                          {"do": "message", "name": "replyport", "args": [9111]}])
    messages = osc(record, None, "later")
    assert registrations(messages) == registration * 2  # init, and the query of the clip
    assert messages.index(registration[1]) < messages.index(["/soundalike/similar", CLIP_PATH, 10])
    assert registrations(osc(record, "later", "search")) == registration
    assert osc(record, "search", "port") == registration + [["/soundalike/similar", CLIP_PATH, 10]]
    assert registrations(osc(record, "port")) == [
        ["/soundalike/reply_to", 9111], ["/soundalike/similarity", 1],
        ["/soundalike/subscribe", 9111]]


def test_unsubscribes_when_the_device_is_deleted():
    record = run(START + [{"do": "mark", "label": "gone"},
                          {"do": "message", "name": "notifydeleted"}])
    assert osc(record, "gone") == [["/soundalike/unsubscribe", 9001]]
    record = run(START + [{"do": "message", "name": "notifydeleted"}, {"do": "mark", "label": "gone"},
                          {"do": "interval"}])
    assert osc(record, "gone") == []  # no renewal after the device is gone


# ---------------------------------------------------------------- results in, menu out


def test_results_fill_the_menu_with_names_and_scores():
    record = run(START + [{"do": "mark", "label": "results"}]
                 + results_steps(CLIP_PATH, RESULTS))
    assert out(record, MENU, "results") == [
        ["clear"],
        ["append", "kicks/boom.wav  0.93"],
        ["append", "kicks/thud 2.wav  0.87"],
        ["append", "perc/knock.aif  0.61"],
        ["set", 0],
    ]
    assert text_of(out(record, STATUS, "results")[-1]) == "3 samples like drums/kick 01.wav"
    assert [r["path"] for r in record["state"]["results"]] == [p for p, _ in RESULTS]


def test_results_with_a_calibrated_similarity_show_it_as_a_percentage():
    record = run(START + [{"do": "mark", "label": "results"}]
                 + results_steps(CLIP_PATH, CALIBRATED) + [
        {"do": "mark", "label": "next"}, {"do": "message", "name": "next"}])
    assert [m for m in out(record, MENU, "results", "next") if m[0] == "append"] == [
        ["append", "kicks/boom.wav  92%"],
        ["append", "kicks/thud 2.wav  71%"],
        ["append", "perc/knock.aif  25%"],
    ]
    assert text_of(out(record, STATUS, "next")[-1]) == "2. kicks/thud 2.wav  71%"
    assert [r["similarity"] for r in record["state"]["results"]] == [0.918, 0.7149, 0.254]


def test_isf_and_isff_results_each_show_what_they_carry():
    """An answer without similarities (a model with no calibration) shows scores, and one
    result without one among others with shows its score."""
    mixed = [CALIBRATED[0], RESULTS[1]]
    record = run(START + results_steps(CLIP_PATH, CALIBRATED) + [{"do": "mark", "label": "plain"}]
                 + results_steps(CLIP_PATH, RESULTS) + [{"do": "mark", "label": "mixed"}]
                 + results_steps(CLIP_PATH, mixed))
    appends = lambda a, b=None: [m[1] for m in out(record, MENU, a, b) if m[0] == "append"]
    assert appends("plain", "mixed") == ["kicks/boom.wav  0.93", "kicks/thud 2.wav  0.87",
                                         "perc/knock.aif  0.61"]
    assert appends("mixed") == ["kicks/boom.wav  92%", "kicks/thud 2.wav  0.87"]
    assert record["state"]["results"][1]["similarity"] is None


def test_a_daemon_without_the_similarity_address_is_not_an_error_to_show():
    record = run(START + [
        {"do": "message", "name": "/soundalike/subscribed", "args": [9001, 0]},
        {"do": "mark", "label": "err"},
        {"do": "message", "name": "/soundalike/error",
         "args": ["/soundalike/similarity", "unknown address"]},
    ])
    assert out(record, STATUS, "err") == []


def test_the_same_results_twice_show_once():
    """A subscriber that also asked gets the reply and the push: the list is not doubled."""
    record = run(START + [{"do": "mark", "label": "results"}]
                 + results_steps(CLIP_PATH, RESULTS) + results_steps(CLIP_PATH, RESULTS))
    appends = [m for m in out(record, MENU, "results") if m[0] == "append"]
    assert len(appends) == 6 and len(record["state"]["results"]) == 3


def test_no_results_says_so():
    record = run(START + [{"do": "mark", "label": "results"}] + results_steps(CLIP_PATH, []))
    assert out(record, MENU, "results") == [["clear"]]
    assert "No similar samples" in text_of(out(record, STATUS, "results")[-1])


def test_daemon_error_is_shown():
    record = run(START + [
        {"do": "mark", "label": "err"},
        {"do": "message", "name": "/soundalike/error",
         "args": ["/soundalike/similar", "no such file"]},
    ])
    assert text_of(out(record, STATUS, "err")[-1]) == \
        "Soundalike: no such file (/soundalike/similar)"


# ---------------------------------------------------------------- cursor and preview


def test_clicking_a_result_previews_it_and_moves_the_daemon_cursor():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "pick"},
        {"do": "message", "name": "pick", "args": [1]},
    ])
    assert out(record, PLAYER, "pick") == [["open", "/lib/kicks/thud 2.wav"], [1]]
    assert osc(record, "pick") == [["/soundalike/cursor/pick", 2]]
    assert ["set", 1] in out(record, MENU, "pick")


def test_cursor_pushes_from_controllers_are_followed():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "push"},
        {"do": "message", "name": "/soundalike/cursor", "args": [3, "/lib/perc/knock.aif", 0.61]},
        {"do": "mark", "label": "echo"},
        {"do": "message", "name": "/soundalike/cursor", "args": [3, "/lib/perc/knock.aif", 0.61]},
    ])
    assert out(record, MENU, "push")[0] == ["set", 2]
    assert out(record, PLAYER, "push", "echo") == [["open", "/lib/perc/knock.aif"], [1]]
    assert out(record, PLAYER, "echo") == []  # already there: no second preview
    assert osc(record, "push") == []  # following a push does not echo it back


def test_cursor_pushes_with_a_similarity_are_followed_too():
    record = run(START + results_steps(CLIP_PATH, CALIBRATED) + [
        {"do": "mark", "label": "push"},
        {"do": "message", "name": "/soundalike/cursor",
         "args": [3, "/lib/perc/knock.aif", 0.61, 0.254]},
        {"do": "mark", "label": "plain"},
        {"do": "message", "name": "/soundalike/cursor", "args": [2, "/lib/kicks/thud 2.wav", 0.87]},
    ])
    assert out(record, MENU, "push", "plain") == [["set", 2]]
    assert out(record, PLAYER, "push", "plain") == [["open", "/lib/perc/knock.aif"], [1]]
    assert text_of(out(record, STATUS, "push", "plain")[-1]) == "3. perc/knock.aif  25%"
    assert out(record, MENU, "plain") == [["set", 1]]
    assert text_of(out(record, STATUS, "plain")[-1]) == "2. kicks/thud 2.wav  71%"


def test_cursor_push_for_unknown_results_is_ignored():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "push"},
        {"do": "message", "name": "/soundalike/cursor", "args": [1, "/elsewhere/x.wav", 0.5]},
    ])
    assert out(record, PLAYER, "push") == [] and out(record, MENU, "push") == []


def test_audition_off_moves_without_playing():
    record = run([{"do": "message", "name": "audition", "args": [0]}] + START
                 + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "push"},
        {"do": "message", "name": "/soundalike/cursor", "args": [2, "/lib/kicks/thud 2.wav", 0.87]},
        {"do": "mark", "label": "play"},
        {"do": "message", "name": "play"},
        {"do": "message", "name": "stop"},
    ])
    assert out(record, PLAYER, "push", "play") == []
    assert out(record, PLAYER, "play") == [["open", "/lib/kicks/thud 2.wav"], [1], [0]]


def test_next_and_prev_step_through_results():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "nav"},
        {"do": "message", "name": "next"},
        {"do": "message", "name": "next"},
        {"do": "message", "name": "next"},
        {"do": "message", "name": "prev"},
    ])
    assert osc(record, "nav") == [["/soundalike/cursor/pick", r] for r in (2, 3, 3, 2)]


def test_windows_paths_are_previewed_with_forward_slashes():
    record = run(START + results_steps("C:\\s\\q.wav", [("C:\\lib\\a b.wav", 0.9)]) + [
        {"do": "mark", "label": "play"},
        {"do": "message", "name": "play"},
    ])
    assert out(record, PLAYER, "play")[0] == ["open", "C:/lib/a b.wav"]


# ---------------------------------------------------------------- Load


def test_load_creates_an_audio_clip_in_the_next_empty_slot():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "message", "name": "pick", "args": [1]},
        {"do": "mark", "label": "load"},
        {"do": "message", "name": "load"},
    ])
    assert mutations(record) == [{"id": 22, "type": "ClipSlot", "function": "create_audio_clip",
                                "args": ["/lib/kicks/thud 2.wav"]}]
    assert text_of(out(record, STATUS, "load")[-1]) == "Loaded kicks/thud 2.wav into Drums, slot 3"
    assert record["violations"] == [] and record["errors"] == []


def test_load_twice_fills_the_following_slot():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "message", "name": "load"},
        {"do": "message", "name": "load"},
    ])
    assert [c["id"] for c in mutations(record)] == [22, 23]


def test_load_starts_from_the_top_when_the_highlighted_slot_is_elsewhere():
    lom = live_set()
    lom["objects"]["2"]["children"]["highlighted_clip_slot"] = 40  # on the Keys track
    lom["objects"]["22"]["props"]["has_clip"] = 1
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [{"do": "message", "name": "load"}],
                 lom=lom)
    assert [c["id"] for c in mutations(record)] == [23]


def test_load_without_an_empty_slot_says_so():
    lom = live_set()
    for slot in ("22", "23"):
        lom["objects"][slot]["props"]["has_clip"] = 1
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == []
    assert "No empty clip slot on Drums" in text_of(out(record, STATUS, "load")[-1])


def test_load_on_a_live_without_create_audio_clip_says_so_plainly():
    lom = live_set()
    for slot in ("20", "21", "22", "23"):
        lom["objects"][slot]["functions"].remove("create_audio_clip")
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == [] and record["errors"] == []
    assert "needs Live 12.0.5 or later" in text_of(out(record, STATUS, "load")[-1])


def test_load_on_live_before_12_0_5_says_so_without_calling():
    lom = live_set()
    lom["objects"]["3"]["returns"] = {"get_major_version": 12, "get_minor_version": 0,
                                      "get_bugfix_version": 4}
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == []
    assert "needs Live 12.0.5 or later" in text_of(out(record, STATUS, "load")[-1])


def test_load_is_attempted_when_lives_version_cannot_be_read():
    lom = live_set()
    del lom["roots"]["live_app"]
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [{"do": "message", "name": "load"}],
                 lom=lom)
    assert [c["id"] for c in mutations(record)] == [22]


def test_load_that_live_ignores_says_so():
    lom = live_set()
    lom["objects"]["22"]["inert"] = ["create_audio_clip"]
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert [c["function"] for c in mutations(record)] == ["create_audio_clip"]
    assert text_of(out(record, STATUS, "load")[-1]).startswith("Live did not create the clip")


def test_load_replaces_the_sample_of_a_selected_simpler():
    lom = live_set()
    lom["objects"]["2"]["children"]["selected_track"] = 11
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == [{"id": 50, "type": "SimplerDevice", "function": "replace_sample",
                                "args": ["/lib/kicks/boom.wav"]}]
    assert text_of(out(record, STATUS, "load")[-1]) == "Loaded kicks/boom.wav into Simpler"


def test_load_into_a_simpler_that_cannot_replace_says_so_plainly():
    lom = live_set()
    lom["objects"]["2"]["children"]["selected_track"] = 11
    lom["objects"]["50"]["functions"].remove("replace_sample")
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == [] and record["errors"] == []
    assert "cannot replace Simpler's sample" in text_of(out(record, STATUS, "load")[-1])


def test_simpler_replace_that_live_ignores_says_so():
    lom = live_set()
    lom["objects"]["2"]["children"]["selected_track"] = 11
    lom["objects"]["50"]["inert"] = ["replace_sample"]
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert text_of(out(record, STATUS, "load")[-1]).startswith(
        "Live did not load kicks/boom.wav into Simpler")


def test_load_onto_a_midi_track_without_simpler_says_so():
    lom = live_set()
    lom["objects"]["2"]["children"]["selected_track"] = 11
    lom["objects"]["13"]["children"]["selected_device"] = 0
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == []
    assert "Keys is not an audio track" in text_of(out(record, STATUS, "load")[-1])


def test_load_onto_a_frozen_track_says_so():
    lom = live_set()
    lom["objects"]["10"]["props"]["is_frozen"] = 1
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=lom)
    assert mutations(record) == []
    assert "frozen" in text_of(out(record, STATUS, "load")[-1])


def test_load_before_any_result_says_so():
    record = run(START + [{"do": "mark", "label": "load"}, {"do": "message", "name": "load"}])
    assert mutations(record) == []
    assert text_of(out(record, STATUS, "load")[-1]) == "Nothing to load: pick a result first"


# ---------------------------------------------------------------- the script is ES5


def _code_only(source: str) -> str:
    """The script with comments, strings and regular expression literals blanked out."""
    source = re.sub(r"//[^\n]*", "", source)
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r'"(?:\\.|[^"\\])*"', '""', source)
    source = re.sub(r"'(?:\\.|[^'\\])*'", "''", source)
    return source


def test_script_is_es5_for_the_max_js_object():
    code = _code_only(SCRIPT.read_text(encoding="utf-8"))
    for pattern, what in [(r"\blet\b", "let"), (r"\bconst\b", "const"), (r"=>", "arrow function"),
                          (r"`", "template string"), (r"\bclass\b", "class"),
                          (r"\.\.\.", "spread"), (r"\bof\b", "for...of")]:
        assert not re.search(pattern, code), f"soundalike.js uses {what}, which [js] lacks"
    node = subprocess.run(["node", "--check", str(SCRIPT)], capture_output=True, text=True)
    assert node.returncode == 0, node.stderr


# ---------------------------------------------------------------- preview formats and channels

INFO = 6


def test_preview_asks_sfinfo_first_so_a_mono_file_is_in_both_ears():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "pick"}, {"do": "message", "name": "pick", "args": [0]}])
    sent = [o for o in record["outlets"][record["marks"]["pick"]:] if o[0] in (PLAYER, INFO)]
    assert sent == [[INFO, "open", "/lib/kicks/boom.wav"],
                    [PLAYER, "open", "/lib/kicks/boom.wav"], [PLAYER, 1]]


@pytest.mark.parametrize("name", ["a.opus", "b.wma", "noext"])
def test_files_sfplay_cannot_play_are_not_previewed_and_it_says_so(name):
    record = run(START + results_steps(CLIP_PATH, [(f"/lib/odd/{name}", 0.9)]) + [
        {"do": "mark", "label": "play"}, {"do": "message", "name": "play"}])
    assert out(record, PLAYER, "play") == [[0]] and out(record, INFO, "play") == []
    assert text_of(out(record, STATUS, "play")[-1]).startswith("Max cannot preview .")
    assert f"Load odd/{name} to hear it" in text_of(out(record, STATUS, "play")[-1])


@pytest.mark.parametrize("name", ["a.WAV", "b.aiff", "c.flac", "d.ogg", "e.mp3", "f.m4a"])
def test_formats_sfplay_plays_are_previewed(name):
    record = run(START + results_steps(CLIP_PATH, [(f"/lib/x/{name}", 0.9)]) + [
        {"do": "mark", "label": "play"}, {"do": "message", "name": "play"}])
    assert out(record, PLAYER, "play") == [["open", f"/lib/x/{name}"], [1]]


# ---------------------------------------------------------------- hot-swap

SIMPLER_SAMPLE = "/old/sample.wav"
PAD_SAMPLE = "/kits/808/kick.wav"


def drum_set(pad_has_simpler: bool = True) -> dict:
    """live_set() plus a MIDI track (Kit) with a Drum Rack, selected, whose pad C1 holds a Simpler."""
    lom = live_set()
    o = lom["objects"]
    o["1"]["children"]["tracks"].append(14)
    o["14"] = {"type": "Track", "path": "live_set tracks 2",
               "props": {"name": "Kit", "has_audio_input": 0, "is_frozen": 0},
               "children": {"clip_slots": [], "view": 15, "devices": [60]}}
    o["15"] = {"type": "Track.View", "path": "live_set tracks 2 view", "props": {},
               "children": {"selected_device": 60}}
    o["60"] = {"type": "RackDevice", "path": "live_set tracks 2 devices 0",
               "props": {"class_name": "DrumGroupDevice", "name": "808 Kit", "can_have_drum_pads": 1},
               "children": {"view": 61}}
    o["61"] = {"type": "RackDevice.View", "path": "live_set tracks 2 devices 0 view", "props": {},
               "children": {"selected_drum_pad": 62}}
    o["62"] = {"type": "DrumPad", "path": "live_set tracks 2 devices 0 drum_pads 36",
               "props": {"name": "C1 Kick", "note": 36}, "children": {"chains": [63]}}
    o["63"] = {"type": "DrumChain", "path": "live_set tracks 2 devices 0 drum_pads 36 chains 0",
               "props": {"name": "kick"}, "children": {"devices": [66, 64] if pad_has_simpler else [66]}}
    o["66"] = {"type": "Device", "path": "live_set tracks 2 devices 0 drum_pads 36 chains 0 devices 0",
               "props": {"class_name": "Saturator", "name": "Saturator"}, "children": {}}
    o["64"] = {"type": "SimplerDevice",
               "path": "live_set tracks 2 devices 0 drum_pads 36 chains 0 devices 1",
               "props": {"class_name": "OriginalSimpler", "name": "kick"},
               "children": {"sample": 65}, "functions": ["crop", "replace_sample"]}
    o["65"] = {"type": "Sample", "path": "live_set tracks 2 devices 0 drum_pads 36 chains 0 devices 1 sample",
               "props": {"file_path": PAD_SAMPLE}, "children": {}}
    o["2"]["children"]["selected_track"] = 14
    return lom


def simpler_set() -> dict:
    lom = live_set()
    lom["objects"]["2"]["children"]["selected_track"] = 11  # Keys, whose Simpler is selected
    return lom


SWAP_ON = [{"do": "message", "name": "swap", "args": [1]}]


def swap_calls(record: dict) -> list[tuple[int, str]]:
    return [(c["id"], c["args"][0]) for c in mutations(record) if c["function"] == "replace_sample"]


@pytest.mark.parametrize("lom, device, before", [(simpler_set, 50, SIMPLER_SAMPLE),
                                                 (drum_set, 64, PAD_SAMPLE)],
                         ids=["simpler", "drum-rack-pad"])
def test_hot_swap_steps_through_samples_like_the_original_and_back(lom, device, before):
    record = run(START + SWAP_ON + [
        {"do": "mark", "label": "first"},
        {"do": "message", "name": "next"},          # asks about the sample Simpler plays now
        {"do": "mark", "label": "answer"}]
        + results_steps(before, RESULTS) + [       # ... and swaps in the most similar one
        {"do": "mark", "label": "steps"},
        {"do": "message", "name": "next"},
        {"do": "message", "name": "next"},
        {"do": "message", "name": "next"},           # stays on the last
        {"do": "message", "name": "prev"},
        {"do": "mark", "label": "original"},
        {"do": "message", "name": "original"},
        {"do": "mark", "label": "after"},
        {"do": "message", "name": "next"},           # from the original again: the first
    ], lom=lom())
    assert ["/soundalike/similar", before, 10] in osc(record, "first", "answer")
    assert swap_calls(record) == [(device, p) for p in (
        "/lib/kicks/boom.wav", "/lib/kicks/thud 2.wav", "/lib/perc/knock.aif",
        "/lib/kicks/thud 2.wav", before, "/lib/kicks/boom.wav")]
    assert [m for m in osc(record, "steps", "original") if m[0] == "/soundalike/cursor/pick"] == \
        [["/soundalike/cursor/pick", r] for r in (2, 3, 2)]  # controllers follow
    assert text_of(out(record, STATUS, "original", "after")[-1]) == \
        "Back to the original: " + "/".join(before.split("/")[-2:])
    assert out(record, PLAYER, "answer") == []  # swapping replaces, it does not preview
    assert record["violations"] == [] and record["errors"] == []


def test_a_swap_says_how_similar_the_new_sample_is():
    record = run(START + SWAP_ON + [{"do": "message", "name": "next"}]
                 + results_steps(SIMPLER_SAMPLE, CALIBRATED) + [
        {"do": "mark", "label": "next"}, {"do": "message", "name": "next"}], lom=simpler_set())
    assert swap_calls(record) == [(50, "/lib/kicks/boom.wav"), (50, "/lib/kicks/thud 2.wav")]
    assert text_of(out(record, STATUS, None, "next")[-1]) == \
        "Swapped in 1. kicks/boom.wav  92% (Original: old/sample.wav)"
    assert text_of(out(record, STATUS, "next")[-1]) == \
        "Swapped in 2. kicks/thud 2.wav  71% (Original: old/sample.wav)"


def test_prev_at_the_original_stays_there():
    record = run(START + SWAP_ON + [{"do": "message", "name": "prev"}]
                 + results_steps(SIMPLER_SAMPLE, RESULTS) + [
        {"do": "mark", "label": "prev"}, {"do": "message", "name": "prev"}], lom=simpler_set())
    assert swap_calls(record) == []
    assert text_of(out(record, STATUS, "prev")[-1]) == "This is the original: old/sample.wav"


def test_a_controllers_cursor_swaps_too():
    record = run(START + SWAP_ON + [{"do": "message", "name": "next"}]
                 + results_steps(SIMPLER_SAMPLE, RESULTS) + [
        {"do": "message", "name": "/soundalike/cursor", "args": [3, "/lib/perc/knock.aif", 0.61]}],
        lom=simpler_set())
    assert swap_calls(record)[-1] == (50, "/lib/perc/knock.aif")


def test_a_sample_changed_by_hand_starts_a_new_swap_around_it():
    record = run(START + SWAP_ON + [{"do": "message", "name": "next"}]
                 + results_steps(SIMPLER_SAMPLE, RESULTS) + [
        {"do": "lom", "id": 51, "props": {"file_path": "/by/hand.wav"}},
        {"do": "mark", "label": "again"},
        {"do": "message", "name": "next"}], lom=simpler_set())
    assert ["/soundalike/similar", "/by/hand.wav", 10] in osc(record, "again")


def test_swap_off_leaves_prev_next_to_the_results():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "message", "name": "next"}], lom=simpler_set())
    assert swap_calls(record) == []


def test_swap_without_a_simpler_moves_through_the_results():
    record = run(START + SWAP_ON + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "nav"}, {"do": "message", "name": "next"}])
    assert osc(record, "nav") == [["/soundalike/cursor/pick", 2]]


def test_a_pad_without_simpler_says_so():
    record = run(START + SWAP_ON + [{"do": "mark", "label": "next"},
                                    {"do": "message", "name": "next"}], lom=drum_set(False))
    assert swap_calls(record) == [] and osc(record, "next") == []
    assert text_of(out(record, STATUS, "next")[-1]) == \
        "Pad C1 Kick has no Simpler: drop a sample on it first"


def test_original_before_swapping_says_so():
    record = run(START + [{"do": "mark", "label": "o"}, {"do": "message", "name": "original"}])
    assert text_of(out(record, STATUS, "o")[-1]).startswith("Nothing to undo")


def test_load_goes_into_the_simpler_of_the_selected_drum_pad():
    record = run(START + results_steps(CLIP_PATH, RESULTS) + [
        {"do": "mark", "label": "load"}, {"do": "message", "name": "load"}], lom=drum_set())
    assert swap_calls(record) == [(64, "/lib/kicks/boom.wav")]
    assert text_of(out(record, STATUS, "load")[-1]) == "Loaded kicks/boom.wav into Simpler"
