"""One source of truth (issue 18): the daemon owns the index, and every view of it agrees.

Each scenario runs a real `python -m bridge serve` process (real UDP on 127.0.0.1, real files,
real watchdog) and checks what a producer would see."""
import contextlib
import json
import os
import shutil
import subprocess
import sys

from tests.audiogen import tone, write
from tests.daemon_proc import OscPeer
from tests.waiting import wait_for

P = "/soundalike"


def make_folder(folder, n, base=200):
    for i in range(n):
        write(folder / f"s{i:03d}.wav", tone(base + 37 * i))
    return folder


@contextlib.contextmanager
def subscribed(d):
    """A peer subscribed to the daemon's pushes."""
    sub = OscPeer()
    try:
        sub.send(d.port, f"{P}/subscribe", sub.port)
        assert sub.receive(5, f"{P}/subscribed")
        yield sub
    finally:
        sub.close()


def cli(env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "bridge", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def results(d, path, count=50):
    """The paths the daemon answers for ``path``."""
    d.peer.send(d.port, f"{P}/similar", str(path), count)
    begin = d.peer.receive(20, f"{P}/results/begin")
    assert begin is not None, d.log()
    out = []
    for _ in range(begin[1][1]):
        out.append(d.peer.receive(5, f"{P}/result")[1][1])
    return out


def _origins(d, paths):
    d.peer.send(d.port, f"{P}/folders")
    d.peer.receive(5, f"{P}/folders")
    return [d.peer.receive(5, f"{P}/folder")[1] for _ in paths]


def test_a_second_serve_on_the_same_data_dir_exits_at_once_naming_the_first(
        daemon_factory, cli_env, tmp_path):
    lib = make_folder(tmp_path / "lib", 3)
    first = daemon_factory([lib]).start()
    first.wait_idle(indexed=3)
    info = json.loads((tmp_path / "data" / "daemon.json").read_text())
    second = subprocess.run([sys.executable, "-m", "bridge", "serve", str(lib), "--osc-port",
                             "0"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr
    assert f"pid {info['pid']}" in lines[0] and f"{info['host']}:{info['port']}" in lines[0]
    # the first is untouched: its state file is still there and it still answers
    assert json.loads((tmp_path / "data" / "daemon.json").read_text()) == info
    assert first.status()[0] == 3
    status = json.loads(cli(cli_env, "status", "--json").stdout)
    assert status["daemon"] is True and status["state"] == "idle"


def test_index_while_the_daemon_runs_goes_through_it(daemon_factory, cli_env, tmp_path):
    lib = make_folder(tmp_path / "lib", 3)
    more = make_folder(tmp_path / "more", 4, base=900)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=3)
    done = cli(cli_env, "index", more)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "indexed 4, skipped 0 unchanged, failed 0, removed 0"
    st = d.status()
    assert st[0] == 7  # the daemon has them: it indexed them itself
    status = json.loads(cli(cli_env, "status", "--json").stdout)
    assert status["indexed"] == 7  # and the CLI's view agrees
    assert {f["path"]: f["origin"] for f in status["folders"]} == {
        str(lib): "command line", str(more): "osc"}
    assert any(p.startswith(str(more)) for p in results(d, lib / "s000.wav"))


def test_train_runs_beside_the_daemon(daemon_factory, cli_env, tmp_path):
    """Training only reads the files: it is not refused while the daemon serves (only its
    switch goes through the daemon, tests/test_model_switch.py), and the daemon is untouched."""
    lib = make_folder(tmp_path / "lib", 2)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=2)
    out = cli(cli_env, "train", lib, "--epochs", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "a daemon already runs" not in out.stderr
    assert "too few files to train and check a model" in out.stderr  # it read them
    assert d.status()[0] == 2


def test_a_folder_added_over_osc_is_kept_and_its_deleted_files_are_not_served(
        daemon_factory, tmp_path):
    lib = make_folder(tmp_path / "lib", 3)
    extra = make_folder(tmp_path / "extra", 3, base=700)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=3)
    assert d.peer.request(d.port, f"{P}/folder/add", str(extra), reply=f"{P}/folder/added")
    d.wait_idle(indexed=6)
    assert d.signal() == 0
    (extra / "s001.wav").unlink()  # deleted while the daemon is down

    again = daemon_factory([lib], port=d.port).start()
    again.wait_idle(indexed=5)
    assert [tuple(f) for f in _origins(again, [lib, extra])] == [
        (str(lib), "command line", "online"), (str(extra), "osc", "online")]
    assert str(extra / "s001.wav") not in results(again, lib / "s000.wav")
    # removing it removes its entries: nothing of it is served any more
    assert again.peer.request(again.port, f"{P}/folder/remove", str(extra),
                              reply=f"{P}/folder/removed")
    again.wait_idle(indexed=3)
    assert not [p for p in results(again, lib / "s000.wav") if p.startswith(str(extra))]


def test_a_restart_with_fewer_folders_forgets_the_dropped_ones(daemon_factory, cli_env, tmp_path):
    a = make_folder(tmp_path / "a", 2)
    b = make_folder(tmp_path / "b", 2, base=800)
    d = daemon_factory([a, b]).start()
    d.wait_idle(indexed=4)
    assert d.signal() == 0
    again = daemon_factory([a], port=d.port).start()
    again.wait_idle(indexed=2)
    assert not [p for p in results(again, a / "s000.wav") if p.startswith(str(b))]
    assert again.signal() == 0
    # a bare `serve` keeps the folders of the last start
    bare = daemon_factory([], port=d.port).start()
    bare.wait_idle(indexed=2)
    status = json.loads(cli(cli_env, "status", "--json").stdout)
    assert status["folders"] == [{"path": str(a), "origin": "command line"}]


def test_the_query_path_drops_files_deleted_behind_its_back(tmp_path, encoder):
    """A result whose file is gone (deleted while nothing watched) is never answered: it is
    dropped, reported for removal, and the answer is refilled to the count asked."""
    from engine import Library

    lib_dir = make_folder(tmp_path / "lib", 6)
    lib = Library(tmp_path / "data", encoder=encoder)
    try:
        lib.index([lib_dir])
        reported = []
        lib.on_dead = reported.extend
        gone = [str(lib_dir / "s001.wav"), str(lib_dir / "s004.wav")]
        for p in gone:
            os.unlink(p)
        got = [r.path for r in lib.similar(str(lib_dir / "s000.wav"), 3)]
        assert len(got) == 3 and not set(got) & set(gone)
        assert sorted(reported) == sorted(gone)
    finally:
        lib.close()


def test_a_symlinked_folder_inside_a_watched_folder_is_watched(daemon_factory, tmp_path):
    lib = make_folder(tmp_path / "lib", 2)
    drive = make_folder(tmp_path / "drive", 2, base=600)
    os.symlink(drive, lib / "drive")
    os.symlink(drive, lib / "again")  # a second link to the same folder: indexed once
    os.symlink(lib, drive / "loop")   # and a loop back up the tree
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=4)
    with subscribed(d) as sub:
        write(drive / "new.wav", tone(1500))
        pushed = sub.receive(30, f"{P}/indexed")
        assert pushed is not None, d.log()
        assert pushed[1][0] in (str(lib / "again" / "new.wav"), str(lib / "drive" / "new.wav"))
    d.wait_idle(indexed=5)
    assert "Traceback" not in d.log()


def test_an_unplugged_drive_goes_offline_in_place_and_comes_back(daemon_factory, tmp_path):
    drive = make_folder(tmp_path / "drive", 3)
    home = make_folder(tmp_path / "home", 2, base=900)
    d = daemon_factory([drive, home], extra=[]).start()
    d.wait_idle(indexed=5)
    with subscribed(d) as sub:
        os.rename(drive, tmp_path / "unplugged")
        assert sub.receive(30, f"{P}/offline") == (f"{P}/offline", [str(drive)])
        assert d.status()[0] == 2
        assert not [p for p in results(d, home / "s000.wav") if p.startswith(str(drive))]
        os.rename(tmp_path / "unplugged", drive)
        assert sub.receive(30, f"{P}/online") == (f"{P}/online", [str(drive)])
        d.wait_idle(indexed=5)
    assert d.signal() == 0
    assert "embedded 5 files this run" in d.log()  # the drive's files were not embedded again


def test_removing_a_folder_while_it_is_indexed_leaves_nothing_of_it(daemon_factory, tmp_path):
    lib = make_folder(tmp_path / "lib", 2)
    big = tmp_path / "big"
    for i in range(150):
        write(big / f"b{i:03d}.wav", tone(100 + 5 * i, seconds=1.0))
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=2)
    assert d.peer.request(d.port, f"{P}/folder/add", str(big), reply=f"{P}/folder/added")
    wait_for(lambda: d.status()[0] > 2, timeout=60, message="indexing of the big folder")
    assert d.peer.request(d.port, f"{P}/folder/remove", str(big),
                          reply=f"{P}/folder/removed", timeout=30)
    d.wait_idle(indexed=2)
    d.peer.request(d.port, f"{P}/rescan", reply=f"{P}/rescan")
    d.wait_idle(indexed=2)
    assert not [p for p in results(d, lib / "s000.wav", 100) if p.startswith(str(big))]
    assert d.signal() == 0
    again = daemon_factory([lib], port=d.port).start()
    again.wait_idle(indexed=2)


def test_a_storm_of_rescans_does_not_starve_new_files(daemon_factory, tmp_path):
    lib = make_folder(tmp_path / "lib", 20)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=20)
    with subscribed(d) as sub:
        for _ in range(2000):
            d.peer.send(d.port, f"{P}/rescan")
        write(lib / "new.wav", tone(1234))
        for _ in range(2000):
            d.peer.send(d.port, f"{P}/rescan")
        assert sub.receive(60, f"{P}/indexed") == (f"{P}/indexed", [str(lib / "new.wav")])
    d.wait_idle(indexed=21, timeout=120)


def test_similar_answers_the_good_files_and_reports_the_bad(cli_env, tmp_path):
    lib = make_folder(tmp_path / "lib", 3)
    assert cli(cli_env, "index", lib).returncode == 0
    out = cli(cli_env, "similar", lib / "s000.wav", "/missing.wav", lib / "s001.wav", "--json",
              "-n", "2")
    assert out.returncode == 1
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["query"] for x in lines] == [str(lib / "s000.wav"), "/missing.wav",
                                           str(lib / "s001.wav")]
    assert len(lines[0]["results"]) == 2 and len(lines[2]["results"]) == 2
    assert "no such file" in lines[1]["error"]
    assert "/missing.wav" in out.stderr and "Traceback" not in out.stderr


def test_a_folder_moved_out_and_back_in_logs_no_watchdog_warning(daemon_factory, tmp_path):
    lib = make_folder(tmp_path / "lib", 1)
    make_folder(lib / "pack" / "sub", 2, base=500)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=3)
    for _ in range(2):
        shutil.move(str(lib / "pack"), str(tmp_path / "pack"))
        d.wait_idle(indexed=1)
        shutil.move(str(tmp_path / "pack"), str(lib / "pack"))
        d.wait_idle(indexed=3)
    assert d.signal() == 0
    assert "already exists" not in d.log() and "Traceback" not in d.log()
