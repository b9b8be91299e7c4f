"""The REAPER script, run with lua5.4 as REAPER would run it, against a recording fake of the
`reaper` and `gfx` APIs whose ExecProcess really runs the command line.

Most tests point the script at a stand-in command that answers per the CLI contract; the
end-to-end tests at the bottom run the real `python -m bridge` CLI (in-process and against a
running daemon) and skip while it is not importable.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reaper" / "soundalike_find_similar.lua"
HERE = Path(__file__).resolve().parent / "reaper"
FAKE = HERE / "fake_reaper.lua"
JSON_DRIVER = HERE / "json_driver.lua"
STAND_IN = HERE / "stand_in_soundalike.py"
LUA = os.environ.get("SOUNDALIKE_TEST_LUA") or shutil.which("lua5.4") or shutil.which("lua")

pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed")

RESULTS = [["/lib/kicks/boom.wav", 0.934], ["/lib/kicks/thud 2.wav", 0.871],
           ["/lib/perc/knock|x.aif", 0.5]]
# the same with the calibrated similarity, as `similar --json` gives it for a model with one
CALIBRATED = [["/lib/kicks/boom.wav", 0.934, 0.9183], ["/lib/kicks/thud 2.wav", 0.871, 0.7149],
              ["/lib/perc/knock|x.aif", 0.5, 0.1302]]


def lua_literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for these strings
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{json.dumps(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def run_reaper(tmp_path: Path, scenario: dict, env: dict | None = None) -> dict:
    scenario_file = tmp_path / "scenario.lua"
    scenario_file.write_text("return " + lua_literal(scenario), encoding="utf-8")
    proc = subprocess.run([LUA, str(FAKE), str(SCRIPT), str(scenario_file)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record.get("error") is None, record["error"]
    return record


@pytest.fixture
def stand_in(tmp_path):
    """Settings and environment that point the script at the stand-in command."""
    argv_file = tmp_path / "argv.jsonl"
    env = {"SOUNDALIKE_STANDIN_ARGV": str(argv_file),
           "SOUNDALIKE_STANDIN_RESULTS": json.dumps(RESULTS)}
    settings = {"command": [sys.executable, str(STAND_IN)], "temp_dir": str(tmp_path)}

    class StandIn:
        def __init__(self):
            self.env, self.settings = env, settings

        def argvs(self):
            if not argv_file.exists():
                return []
            return [json.loads(line) for line in argv_file.read_text(encoding="utf-8").splitlines()]

        def similar_argv(self):
            found = [a for a in self.argvs() if a[:1] == ["similar"]]
            assert len(found) == 1, self.argvs()
            return found[0]

    return StandIn()


RESULTS_SHOWN = "best first"   # the window's status once the answer is in


def scenario(stand_in, steps=None, **overrides) -> dict:
    base = {"settings": dict(stand_in.settings), "selected_track": 3,
            "item": {"track": 2, "take": {"file": "/project/audio/kick 01.wav"}},
            "steps": steps if steps is not None else [{"when": RESULTS_SHOWN, "close": True}]}
    base.update(overrides)
    return base


def events(record: dict, *kinds: str) -> list[tuple[str, object]]:
    return [(e["kind"], e["value"]) for e in record["events"] if e["kind"] in kinds]


# ---------------------------------------------------------------- with the stand-in command


def test_the_query_runs_in_the_background_while_the_window_stays_live(tmp_path, stand_in):
    hold = tmp_path / "hold"
    env = {**stand_in.env, "SOUNDALIKE_STANDIN_HOLD": str(hold)}
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": "Searching", "release": str(hold)},
        {"when": RESULTS_SHOWN, "close": True}]), env)
    similar = [e for e in record["exec"] if '"similar"' in e["cmd"]]
    assert [e["timeout"] for e in similar] == [-1]          # ExecProcess does not wait
    argv = stand_in.similar_argv()
    assert argv[:4] == ["similar", "--json", "-n", "10"] and argv[-1] == "/project/audio/kick 01.wav"
    assert argv[argv.index("--output") + 1].startswith(str(tmp_path))
    # the window was drawn, and kept being served, while the command had not answered
    searching = [f for f in record["frames"] if "Searching for samples like audio/kick 01.wav" in f]
    assert searching and record["frames"].index(searching[0]) < len(record["frames"]) - 1
    log = [k for k, _ in events(record, "exec", "step", "audition")]
    assert log.index("step") < log.index("audition")  # answered only after the release
    assert record["steps_done"] == 2 and record["messages"] == []
    assert not list(tmp_path.glob("soundalike-reaper-*"))  # the answer file is cleaned up


def test_results_are_listed_with_their_folder_and_the_first_is_auditioned(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in), stand_in.env)
    last = record["frames"][-1]
    for label in (" 1.  kicks/boom.wav", " 2.  kicks/thud 2.wav", " 3.  perc/knock|x.aif"):
        assert label in last
    assert "0.93" in last and "Like audio/kick 01.wav" in last
    assert "%" not in last  # no similarity in the answer: the scores, as they are
    assert record["auditions"] == [{"how": "explorer", "path": "/lib/kicks/boom.wav", "play": True}]
    assert record["inserts"] == []


def ink(record: dict, text: str) -> list[float]:
    found = [i["color"] for i in record["inks"] if i["text"] == text]
    assert len(found) == 1, (text, record["inks"])
    return found[0]


def test_a_calibrated_similarity_is_shown_as_a_percentage_and_unlikely_rows_dimmed(tmp_path,
                                                                                  stand_in):
    env = {**stand_in.env, "SOUNDALIKE_STANDIN_RESULTS": json.dumps(CALIBRATED)}
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "key": "down"},
        {"when": "2. kicks/thud 2.wav", "close": True}]), env)
    rows = [i["text"] for i in record["inks"]]
    for shown in ("92%", "71%", "13%"):
        assert shown in rows
    assert not [t for t in rows if t in ("0.93", "0.87", "0.50")]
    assert record["ui"]["status"] == "2. kicks/thud 2.wav  71%"
    # row 3 (13 %: more likely another kind of sound) is drawn dimmer than row 1 (92 %)
    assert sum(ink(record, " 3.  perc/knock|x.aif")[:3]) < sum(ink(record, " 1.  kicks/boom.wav")[:3])
    assert ink(record, "13%") == ink(record, " 3.  perc/knock|x.aif")


def test_results_without_a_similarity_are_not_dimmed(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in), stand_in.env)
    assert ink(record, " 3.  perc/knock|x.aif") == ink(record, " 2.  kicks/thud 2.wav")
    assert ink(record, "0.50") == ink(record, "0.87")


def test_audition_then_insert_with_the_keyboard(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "key": "down"},
        {"when": "2. kicks/thud 2.wav", "key": "enter"},
        {"when": "Inserted", "close": True}]), stand_in.env)
    assert [a["path"] for a in record["auditions"]] == ["/lib/kicks/boom.wav", "/lib/kicks/thud 2.wav"]
    assert record["inserts"] == [{"path": "/lib/kicks/thud 2.wav", "mode": 0,
                                  "last_touched_track": 3, "selected_track": 3,
                                  "selected_items_on_tracks": [2]}]
    assert events(record, "audition", "insert")[-2:] == [("audition", "/lib/kicks/thud 2.wav"),
                                                         ("insert", "/lib/kicks/thud 2.wav")]
    assert 40914 in record["commands"]
    assert record["undo"] == ["begin", "Soundalike: insert thud 2.wav"]


def test_n_and_p_step_and_stop_at_the_ends(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "key": "p"}, {"key": "n"}, {"key": "n"}, {"key": "n"},
        {"when": "3. perc", "key": "up"}, {"when": "2. kicks", "close": True}]), stand_in.env)
    assert [a["path"].rsplit("/", 1)[1] for a in record["auditions"]] == \
        ["boom.wav", "boom.wav", "thud 2.wav", "knock|x.aif", "knock|x.aif", "thud 2.wav"]


def test_a_click_auditions_and_a_click_on_the_highlighted_row_inserts(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "click": 3},
        {"when": "3. perc/knock", "click": 3},
        {"when": "Inserted", "close": True}]), stand_in.env)
    assert [a["path"] for a in record["auditions"]][-1] == "/lib/perc/knock|x.aif"
    assert [i["path"] for i in record["inserts"]] == ["/lib/perc/knock|x.aif"]


def test_shift_inserts_a_new_take_of_the_item(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "key": "enter", "shift": True},
        {"when": "Inserted", "close": True}]), stand_in.env)
    assert record["inserts"] == [{"path": "/lib/kicks/boom.wav", "mode": 3,
                                  "selected_track": 3, "selected_items_on_tracks": [2]}]
    assert record["undo"][-1] == "Soundalike: insert boom.wav as a take"


def test_modifier_is_read_with_js_mouse_getstate_when_available(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, js_mouse=8 | 1, steps=[
        {"when": RESULTS_SHOWN, "key": "enter"}, {"when": "Inserted", "close": True}]),
        stand_in.env)
    assert record["inserts"][0]["mode"] == 3


def test_take_modifier_is_a_setting(tmp_path, stand_in):
    settings = {**stand_in.settings, "take_modifier": 16}
    record = run_reaper(tmp_path, scenario(stand_in, settings=settings, steps=[
        {"when": RESULTS_SHOWN, "key": "enter", "shift": True},  # Shift is not the modifier now
        {"when": "Inserted", "close": True}]), stand_in.env)
    assert record["inserts"][0]["mode"] == 0


def test_sws_preview_is_preferred_when_installed(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, sws=True, steps=[
        {"when": RESULTS_SHOWN, "key": "down"}, {"when": "2. kicks", "close": True}]),
        stand_in.env)
    assert [(a["how"], a["path"]) for a in record["auditions"]] == \
        [("sws", "/lib/kicks/boom.wav"), ("sws", "/lib/kicks/thud 2.wav")]
    assert "CF_Preview_Stop" in record["calls"]  # the previous preview stops first


def test_without_any_preview_it_says_so(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, no_explorer=True), stand_in.env)
    assert record["auditions"] == []
    assert "cannot preview" in record["ui"]["status"]


def test_the_selected_item_is_reported_and_followed(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "select": {"file": "/project/audio/snare 2.wav"}},
        {"key": "n"}, {"when": "2. kicks", "close": True}]), stand_in.env)
    assert [a[-1] for a in record["exec_argv"] if "select" in a] == \
        ["/project/audio/kick 01.wav", "/project/audio/snare 2.wav"]
    # the stand-in ran in the background: wait for both to have run
    wait_for(lambda: len([a for a in stand_in.argvs() if a[:1] == ["select"]]) == 2,
             timeout=30, message="both select commands")
    selects = [a for a in stand_in.argvs() if a[:1] == ["select"]]
    assert selects == [["select", "/project/audio/kick 01.wav"],
                       ["select", "/project/audio/snare 2.wav"]]
    assert all(e["timeout"] == -1 for e in record["exec"])  # never waits for the daemon


def test_reporting_the_selection_can_be_turned_off(tmp_path, stand_in):
    settings = {**stand_in.settings, "report_selection": False}
    run_reaper(tmp_path, scenario(stand_in, settings=settings), stand_in.env)
    assert [a[0] for a in stand_in.argvs()] == ["similar"]


def test_find_again_asks_about_the_new_selection(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": RESULTS_SHOWN, "select": {"file": "/project/audio/snare 2.wav"}},
        {"key": "f"}, {"when": "Like audio/snare 2.wav.*" + RESULTS_SHOWN, "close": True}]),
        stand_in.env)
    assert [a[-1] for a in stand_in.argvs() if a[0] == "similar"] == \
        ["/project/audio/kick 01.wav", "/project/audio/snare 2.wav"]
    assert record["steps_done"] == 3


def test_the_items_section_is_shown_since_queries_use_whole_files(tmp_path, stand_in):
    item = {"track": 2, "take": {"file": "/project/audio/loop.wav", "sections": 1,
                                 "offset": 1.25, "length": 0.5, "source_length": 4.0}}
    record = run_reaper(tmp_path, scenario(stand_in, item=item), stand_in.env)
    assert stand_in.similar_argv()[-1] == "/project/audio/loop.wav"
    assert "(whole file; the item plays 1.25-1.75 s)" in record["ui"]["header"]


def test_list_setting_answers_in_a_named_list(tmp_path, stand_in):
    settings = {**stand_in.settings, "list": "daw", "count": 2,
                "extra_args": ["--data-dir", "/d a/t"]}
    run_reaper(tmp_path, scenario(stand_in, settings=settings), stand_in.env)
    argv = stand_in.similar_argv()
    assert argv[:6] == ["similar", "--json", "-n", "2", "--list", "daw"]
    assert argv[-3:] == ["--data-dir", "/d a/t", "/project/audio/kick 01.wav"]


def test_awkward_characters_in_paths_reach_the_command_intact(tmp_path, stand_in):
    path = "/project/it's $HOME & `x` (1)/kick 01.wav"
    run_reaper(tmp_path, scenario(stand_in, item={"track": 2, "take": {"file": path}}),
               stand_in.env)
    assert stand_in.similar_argv()[-1] == path


def test_a_path_with_a_double_quote_is_refused_plainly(tmp_path, stand_in):
    item = {"track": 2, "take": {"file": '/project/12" vinyl.wav'}}
    record = run_reaper(tmp_path, scenario(stand_in, item=item, steps=[]), stand_in.env)
    assert record["exec"] == [] and record["inserts"] == []
    assert "double quote" in record["messages"][0]["text"]


def test_nothing_selected_says_so(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, item=None, steps=[]), stand_in.env)
    assert record["exec"] == [] and record["inserts"] == [] and record["frames"] == []
    assert record["messages"] == [{"text": "Select a media item first: Soundalike looks for "
                                           "samples similar to its sound.",
                                   "title": "Soundalike", "kind": 0}]


def test_midi_or_empty_take_says_so(tmp_path, stand_in):
    for item in ({"track": 2, "take": {"file": "", "midi": True}}, {"track": 2}):
        record = run_reaper(tmp_path, scenario(stand_in, item=item, steps=[]), stand_in.env)
        assert record["exec"] == []
        assert "no audio take" in record["messages"][0]["text"]


def test_failing_command_shows_its_message(tmp_path, stand_in):
    env = {**stand_in.env, "SOUNDALIKE_STANDIN_FAIL": "no daemon and no index in /x"}
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": "could not answer", "close": True}]), env)
    assert record["inserts"] == [] and record["auditions"] == []
    assert record["messages"][0]["text"] == \
        "Soundalike could not answer:\nno daemon and no index in /x"


def test_command_that_cannot_start_points_at_the_setting(tmp_path, stand_in):
    record = run_reaper(tmp_path, scenario(stand_in, exec_fails=True, steps=[]), stand_in.env)
    text = record["messages"][0]["text"]
    assert "Could not run Soundalike" in text and "top of this script" in text


def test_a_command_that_never_answers_times_out_plainly(tmp_path, stand_in):
    settings = {**stand_in.settings, "command": ["/nonexistent/soundalike"], "timeout_ms": 400}
    record = run_reaper(tmp_path, scenario(stand_in, settings=settings, steps=[
        {"when": "no answer in time", "close": True}]), stand_in.env)
    assert record["inserts"] == []
    assert "Is the command at the top of this script right?" in record["messages"][0]["text"]


def test_no_results_says_so(tmp_path, stand_in):
    env = {**stand_in.env, "SOUNDALIKE_STANDIN_RESULTS": "[]"}
    record = run_reaper(tmp_path, scenario(stand_in, steps=[
        {"when": "found no samples", "close": True}]), env)
    assert record["ui"]["status"] == "Soundalike found no samples similar to kick 01.wav."
    assert record["auditions"] == []


def test_unreadable_answer_says_so(tmp_path):
    code = ("import sys; a = sys.argv; "
            "a[1] == 'similar' and open(a[a.index('--output') + 1], 'w').write('hello')")
    settings = {"command": [sys.executable, "-c", code], "temp_dir": str(tmp_path),
                "report_selection": False}
    record = run_reaper(tmp_path, {"settings": settings,
                                   "item": {"track": 1, "take": {"file": "/a.wav"}},
                                   "steps": [{"when": "understands", "close": True}]})
    assert record["inserts"] == []
    assert "no answer that this script understands" in record["messages"][0]["text"]


# ---------------------------------------------------------------- the JSON decoder


def decode_with_lua(lines: list[str]) -> list[str]:
    proc = subprocess.run([LUA, str(JSON_DRIVER), str(SCRIPT)], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


VALID = [
    '{"query": "/a b/c.wav", "results": [{"path": "/x/y.wav", "score": 0.93}, '
    '{"path": "/x/z.wav", "score": -1.5e-3}]}',
    '[]', '{}', '[1, -2, 3.25, 1E+2, 0, -0.0, 12345678901]', '"\\u00e9\\u4e2d\\ud83c\\udfb5 \\n\\t"',
    '{"a": [true, false, null], "b": {"c": ""}}', '  {"sp" :  [ 1 , 2 ] }  ',
    '"caf\u00e9 \u30b5\u30f3\u30d7\u30eb.wav"', '"\\"quoted\\" \\\\ \\/ slash"',
    json.dumps({"query": "/m\u00fcsik/\U0001f3b5.wav", "results": []}, ensure_ascii=True),
]
INVALID = ['', '{', '[1,]', '{"a" 1}', '{"a": 1,}', '01', '1.', '.5', '1e', '"\\x"', '"abc',
           'tru', '[1] x', '"\\ud800"', "'single'", '{"a": "tab\there"}', '-']


def _empty_as_list(value):
    """Lua has one table type: an empty object and an empty array decode alike."""
    if isinstance(value, dict):
        return {k: _empty_as_list(v) for k, v in value.items()} or []
    if isinstance(value, list):
        return [_empty_as_list(v) for v in value]
    return value


def test_json_decoder_agrees_with_python():
    decoded = decode_with_lua(VALID)
    assert len(decoded) == len(VALID)
    for source, out in zip(VALID, decoded):
        assert not out.startswith("ERROR"), (source, out)
        assert _empty_as_list(json.loads(out)) == _empty_as_list(json.loads(source)), (source, out)


def test_json_decoder_rejects_malformed_text():
    decoded = decode_with_lua(INVALID)
    assert len(decoded) == len(INVALID)
    for source, out in zip(INVALID, decoded):
        assert out.startswith("ERROR bad JSON"), (source, out)


# ---------------------------------------------------------------- end to end, with the real CLI


def _bridge_available() -> bool:
    try:
        proc = subprocess.run([sys.executable, "-m", "bridge", "--help"], capture_output=True,
                              cwd=ROOT, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


needs_bridge = pytest.mark.skipif(not _bridge_available(),
                                  reason="python -m bridge is not importable yet")


def _synthesize_library(folder: Path) -> dict[str, Path]:
    """Tiny WAVs: two similar low sine thumps, a hi-hat-like noise burst, a high chirp."""
    np = pytest.importorskip("numpy")
    sf = pytest.importorskip("soundfile")
    rng = np.random.default_rng(7)
    sr = 22050
    t = np.arange(int(0.5 * sr)) / sr
    decay = np.exp(-t * 8)
    sounds = {
        "kick_a.wav": np.sin(2 * np.pi * 55 * t) * decay,
        "kick_b.wav": np.sin(2 * np.pi * 60 * t) * decay * 0.9,
        "hat.wav": rng.standard_normal(t.size) * np.exp(-t * 40) * 0.5,
        "chirp.wav": np.sin(2 * np.pi * (2000 + 4000 * t) * t) * 0.4,
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, signal in sounds.items():
        paths[name] = folder / name
        sf.write(paths[name], signal.astype("float32"), sr)
    return paths


def _bridge_env() -> dict:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_real_insert(record: dict, library: Path, query: Path) -> None:
    assert record["messages"] == [], record["messages"]
    assert len(record["inserts"]) == 1
    inserted = Path(record["inserts"][0]["path"])
    assert inserted.is_absolute() and inserted.parent == library.resolve()
    assert inserted != query.resolve()
    assert record["inserts"][0]["mode"] == 0
    assert record["auditions"][0]["path"] == str(inserted)  # heard before it went in
    assert record["ui"]["results"] == 3  # the other three samples, the query never among them


REAL_STEPS = [{"when": "best first", "key": "enter"}, {"when": "Inserted", "close": True}]


@pytest.mark.slow
@needs_bridge
def test_end_to_end_with_the_real_cli_in_process(tmp_path):
    library, data = tmp_path / "library", tmp_path / "data"
    paths = _synthesize_library(library)
    env = {**os.environ, **_bridge_env()}
    subprocess.run([sys.executable, "-m", "bridge", "index", str(library), "--data-dir", str(data)],
                   check=True, cwd=ROOT, env=env, timeout=600, capture_output=True)
    query = paths["kick_a.wav"]
    record = run_reaper(tmp_path, {
        "settings": {"command": [sys.executable, "-m", "bridge"],
                     "extra_args": ["--data-dir", str(data)], "count": 10},
        "item": {"track": 1, "take": {"file": str(query)}}, "selected_track": 1,
        "steps": REAL_STEPS, "max_cycles": 20000}, _bridge_env())
    _check_real_insert(record, library, query)


@pytest.mark.slow
@needs_bridge
def test_end_to_end_with_a_running_daemon(tmp_path):
    library, data = tmp_path / "library", tmp_path / "data"
    paths = _synthesize_library(library)
    env = {**os.environ, **_bridge_env()}
    port = _free_port()
    daemon = subprocess.Popen([sys.executable, "-m", "bridge", "serve", str(library),
                               "--data-dir", str(data), "--osc-port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        _wait_until_indexed(port, expected=len(paths), daemon=daemon)
        query = paths["kick_b.wav"]
        record = run_reaper(tmp_path, {
            "settings": {"command": [sys.executable, "-m", "bridge"],
                         "extra_args": ["--data-dir", str(data)]},
            "item": {"track": 1, "take": {"file": str(query)}}, "steps": REAL_STEPS,
            "max_cycles": 20000}, _bridge_env())
        _check_real_insert(record, library, query)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def _wait_until_indexed(port: int, expected: int, daemon: subprocess.Popen,
                        timeout: float = 300) -> None:
    """Poll /soundalike/status until the daemon is idle with every file indexed."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        request = OscMessageBuilder("/soundalike/status").build().dgram
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.stderr.read().decode(errors="replace")
            sock.sendto(request, ("127.0.0.1", port))
            try:
                message = OscMessage(sock.recv(65536))
            except (socket.timeout, ConnectionResetError):
                continue
            if message.address == "/soundalike/status":
                indexed, pending, state = message.params
                if indexed >= expected and pending == 0 and state == "idle":
                    return
            time.sleep(0.2)
    pytest.fail("the daemon did not finish indexing in time")
