"""Which folders may be watched and which names are skipped (issue 22, items 6, 11 and 12).

The rules are pure functions (engine/folders.py); each is also checked where it acts: a real
`python -m bridge serve` process answering OSC on 127.0.0.1, the CLI, the real scan and the
real watchdog observer."""
import os
import subprocess
import sys

import pytest

from engine.folders import hidden_path, parse_mounts, refuse_folder
from engine.pipeline import scan
from tests.test_one_owner import P, cli, make_folder
from tests.waiting import wait_for

MOUNTS = [("/", "ext4"), ("/proc", "proc"), ("/sys", "sysfs"), ("/sys/fs/cgroup", "cgroup2"),
          ("/dev", "devtmpfs"), ("/dev/shm", "tmpfs"), ("/run", "tmpfs"),
          ("/run/user/1000", "tmpfs"), ("/run/media/me/DRIVE", "vfat"), ("/tmp", "tmpfs"),
          ("/home", "ext4"), ("/home/me/chroot/proc", "proc"), ("/mnt/cg", "cgroup"),
          ("/mnt/samples", "ntfs3")]


@pytest.mark.parametrize("path", [
    "/", "//", "/proc", "/proc/1/root", "/proc/self/root/home", "/sys", "/sys/fs/cgroup/cpu",
    "/dev", "/dev/shm/x", "/run", "/run/user/1000", "/usr", "/etc", "/var", "/boot",
    "/home/me/chroot/proc", "/home/me/chroot/proc/1", "/mnt/cg/x", "/System", "/Library",
    "/usr/../proc",
])
def test_system_roots_and_pseudo_file_systems_are_refused(path):
    why = refuse_folder(path, MOUNTS, platform="linux")
    assert why is not None and why.startswith(f"refusing to watch {path}:")


@pytest.mark.parametrize("path", [
    "/home/me/Samples", "/tmp/lib", "/run/media/me/DRIVE", "/run/media/me/DRIVE/Kicks",
    "/mnt/samples", "/usr/share/sounds", "/home/me/chroot", "/var/lib/samples",
])
def test_ordinary_folders_are_not_refused(path):
    assert refuse_folder(path, MOUNTS, platform="linux") is None


@pytest.mark.parametrize("path, refused", [
    ("C:\\", True), ("c:/", True), ("C:\\Windows", True), ("C:\\Windows\\Media", True),
    ("C:\\Program Files\\Ableton", True), ("D:\\Program Files (x86)", True),
    ("D:\\", False), ("C:\\Users\\me\\Samples", False), ("E:\\Samples", False),
])
def test_windows_system_folders(path, refused):
    assert (refuse_folder(path, platform="win32", system_drive="C:") is not None) == refused


def test_mounts_are_parsed_with_their_escapes():
    text = ("proc /proc proc rw 0 0\n/dev/sdb1 /media/My\\040Drive vfat rw 0 0\n"
            "garbage\n")
    assert parse_mounts(text) == [("/proc", "proc"), ("/media/My Drive", "vfat")]


@pytest.mark.skipif(not os.path.exists("/proc/self/mounts"), reason="Linux only")
def test_the_scan_does_not_follow_links_to_system_folders(tmp_path):
    lib = make_folder(tmp_path / "lib", 2)
    os.symlink("/", lib / "everything")
    os.symlink("/proc", lib / "proc")
    os.symlink("/sys/kernel", lib / "kernel")
    assert sorted(scan([str(lib)])) == [str(lib / "s000.wav"), str(lib / "s001.wav")]


@pytest.mark.parametrize("folder", ["/", "/proc", "/sys/kernel"])
def test_the_daemon_refuses_a_system_folder_over_osc(daemon_factory, tmp_path, folder):
    lib = make_folder(tmp_path / "lib", 2)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=2)
    reply = d.peer.request(d.port, f"{P}/folder/add", folder, reply=f"{P}/error")
    assert reply is not None, d.log()
    assert reply[1][0] == f"{P}/folder/add"
    assert reply[1][1].startswith(f"refusing to watch {folder}:")
    folders = d.peer.request(d.port, f"{P}/folders")
    assert folders[1] == [str(lib)]
    assert d.wait_idle(indexed=2)
    d.peer.request(d.port, f"{P}/rescan")
    assert d.wait_idle(indexed=2)


def test_serve_and_index_refuse_a_system_folder_with_a_message(cli_env, tmp_path):
    lib = make_folder(tmp_path / "lib", 1)
    os.symlink("/", tmp_path / "everything")
    out = cli(cli_env, "index", tmp_path / "everything", timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"refusing to watch {tmp_path / 'everything'} (a link to /):" in out.stderr
    out = cli(cli_env, "serve", lib, "/proc", "--osc-port", "0", timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "refusing to watch /proc:" in out.stderr and "(from the command line)" in out.stderr
    out = cli(cli_env, "index", "/", timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "refusing to watch /:" in out.stderr
    config = tmp_path / "config.toml"
    config.write_text('folders = ["/sys"]\n')
    out = cli({**cli_env, "SOUNDALIKE_CONFIG": str(config)}, "serve", "--osc-port", "0",
              timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "refusing to watch /sys:" in out.stderr and "(from the config file)" in out.stderr


def test_python_warnings_are_logged_through_the_repeat_filter(tmp_path):
    """Watchdog warns with warnings.warn, each message naming its whole watch table: routed
    through logging, a flood of them collapses like any repeated line."""
    code = ("import warnings\n"
            "from bridge.app import setup_logging\n"
            "setup_logging('info', None)\n"
            "for i in range(2000):\n"
            "    warnings.warn(f'Callback with id {i} is odd for watch ' + 'x' * 200, "
            "RuntimeWarning)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert 1 <= len(lines) <= 10, lines[:20]
    assert "py.warnings" in lines[0]


@pytest.mark.parametrize("path, root, skipped", [
    ("/lib/.hidden/a.wav", "/lib", True),
    ("/lib/a/.b/c/d.wav", "/lib", True),
    ("/lib/.a.wav", "/lib", True),
    ("/lib/a/b.wav", "/lib", False),
    ("/home/me/.samples/a.wav", "/home/me/.samples", False),  # a root may itself be hidden
    ("/home/me/.samples/.x/a.wav", "/home/me/.samples", True),
])
def test_the_hidden_rule(path, root, skipped):
    assert hidden_path(path, root) == skipped


def _without_root_powers(d):
    """Run the daemon so that permissions apply to it: as root, without the capabilities that
    let root read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return d
    import shutil
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    d.args = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *d.args]
    return d


def test_an_unreadable_folder_keeps_its_entries_and_unreadable_files_are_recorded(
        daemon_factory, cli_env, tmp_path):
    lib = make_folder(tmp_path / "lib", 2)
    sub = make_folder(lib / "sub", 3, base=600)
    d = _without_root_powers(daemon_factory([lib])).start()
    d.wait_idle(indexed=5)
    try:
        os.chmod(sub, 0)
        assert d.peer.request(d.port, f"{P}/rescan")
        wait_for(lambda: f"cannot list {sub}" in d.log(), timeout=30, message=d.log())
        assert d.wait_idle(indexed=5)  # kept, not removed
        # a query leaves them out (unreadable now) and does not remove them either
        d.peer.send(d.port, f"{P}/similar", str(lib / "s000.wav"), 10)
        begin = d.peer.receive(20, f"{P}/results/begin")
        assert begin is not None and begin[1][1] == 1, d.log()
        assert d.wait_idle(indexed=5)
        # a new file nobody may read: recorded with its reason, not left out
        from tests.audiogen import tone, write
        locked = lib / "locked.wav"
        write(tmp_path / "locked.wav", tone(900))
        os.chmod(tmp_path / "locked.wav", 0)
        os.rename(tmp_path / "locked.wav", locked)  # unreadable from its first event
        d.peer.request(d.port, f"{P}/rescan")
        def failures():
            out = cli(d.env, "status")
            return f"failed: {locked}: cannot read file: Permission denied" in out.stdout, out

        try:
            wait_for(lambda: failures()[0], timeout=30, interval=0.2, message="the failure")
        except AssertionError:
            raise AssertionError(f"{failures()[1]} {d.log()}") from None
    finally:
        os.chmod(sub, 0o755)
    os.chmod(locked, 0o644)
    d.peer.request(d.port, f"{P}/rescan")
    d.wait_idle(indexed=6)  # the 3 kept, and the file that can be read now
    assert str(locked) not in cli(d.env, "status").stdout
    assert d.signal() == 0
    # nothing was embedded twice: the 5 at the start and the one that became readable
    assert "embedded 6 files this run" in d.log(), d.log()


def test_the_watcher_and_the_scan_skip_the_same_hidden_files(daemon_factory, tmp_path):
    from tests.audiogen import tone, write
    from tests.test_one_owner import results

    lib = make_folder(tmp_path / "lib", 2)
    make_folder(lib / "kit", 2, base=500)
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=4)
    write(lib / ".cache" / "a.wav", tone(310))  # a hidden folder
    write(lib / "kit" / ".trash" / "deep" / "b.wav", tone(330))  # one on the way
    write(lib / "kit" / ".c.wav", tone(350))  # a hidden name
    write(lib / "new.wav", tone(370))
    wait_for(lambda: str(lib / "new.wav") in results(d, lib / "s000.wav"), timeout=30)
    d.wait_idle(indexed=5)
    assert sorted(results(d, lib / "s000.wav")) == sorted(
        str(p) for p in [lib / "s001.wav", lib / "kit" / "s000.wav", lib / "kit" / "s001.wav",
                         lib / "new.wav"])
    # a folder renamed hidden leaves the index, as the next scan would decide
    os.rename(lib / "kit", lib / ".kit")
    d.wait_idle(indexed=3)
    d.peer.request(d.port, f"{P}/rescan")
    wait_for(lambda: "3 files, 3 unchanged, 0 to embed, 0 gone" in d.log(), timeout=30,
             message="the rescan")
    assert d.wait_idle(indexed=3)


def test_a_system_folder_kept_from_before_is_forgotten_at_start(daemon_factory, cli_env,
                                                                  tmp_path):
    from engine.catalog import Catalog

    lib = make_folder(tmp_path / "lib", 2)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    old = Catalog(data, "any-model")  # as an earlier version accepted it over OSC
    old.add_root("/proc", "osc")
    old.close()
    d = daemon_factory([lib]).start()
    d.wait_idle(indexed=2)
    assert d.peer.request(d.port, f"{P}/folders")[1] == [str(lib)]
    assert "refusing to watch /proc:" in d.log() and "no longer watched" in d.log()
