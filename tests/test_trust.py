"""The local trust model with real users, sockets and files: another local user (a client run
as ``nobody``) cannot probe paths outside the library, symlinks leading out of the library open
nothing to such clients or to remote ones, and the socket-owner lookup is right."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.server import OscServer
from bridge.trust import TrustPolicy, socket_owner

from osc_helpers import Client, indexed_backend, write_wav
from tests.test_security import lan, remote  # noqa: F401  (the network namespace fixture)

P = "/soundalike"
ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


def _can_switch_user() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv") is not None


needs_root = pytest.mark.skipif(not _can_switch_user(),
                                reason="needs root and setpriv to run a client as another user")
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

CLIENT = textwrap.dedent("""
    import json, socket, sys
    sys.path.insert(0, {root!r})
    from bridge.osc_wire import decode, encode
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    for line in sys.stdin:
        address, *args = json.loads(line)
        s.sendto(encode(address, *args), ("127.0.0.1", port))
        out = []
        try:
            while True:
                m = decode(s.recvfrom(65536)[0])[0]
                out.append([m.address, *m.args])
                if m.address in ("/soundalike/error", "/soundalike/results/end",
                                 "/soundalike/selected", "/soundalike/folder/added"):
                    break
        except socket.timeout:
            pass
        print(json.dumps(out), flush=True)
""")


def as_nobody(port: int, requests: list[list]) -> list[list]:
    proc = subprocess.run(AS_NOBODY + [sys.executable, "-c", CLIENT.format(root=str(ROOT)),
                                       str(port)],
                          input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture(scope="module")
def private_setup(tmp_path_factory):
    """A library with symlinks leading out of it, and a 0700 folder of the daemon's user."""
    root = tmp_path_factory.mktemp("trust")
    lib = root / "lib"
    for i, kind in enumerate(["sine", "square", "noise", "chirp"]):
        write_wav(lib / f"{i}_{kind}.wav", kind, 220 + 40 * i, seed=i)
    private = root / "private"
    private.mkdir(mode=0o700)
    write_wav(private / "real.wav", "sine", 330, seed=9)
    (private / "junk.wav").write_bytes(b"not audio at all " * 20)
    (private / "folder.wav").mkdir()
    locked = write_wav(private / "locked.wav", "noise", 0, seed=8)
    locked.chmod(0)
    (lib / "link.wav").symlink_to(private / "real.wav")
    (lib / "linkdir").symlink_to(private, target_is_directory=True)
    outside = [str(private / n) for n in ("real.wav", "junk.wav", "folder.wav", "locked.wav",
                                          "missing.wav")]
    outside += [str(lib / "link.wav"), str(lib / "linkdir" / "real.wav"),
                str(lib / "linkdir" / "missing.wav")]
    with indexed_backend(root / "data", lib) as backend:
        yield backend, lib, private, outside


def test_socket_owner_finds_the_uid_of_a_real_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        assert socket_owner("127.0.0.1", s.getsockname()[1]) == os.geteuid()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:  # a dual-stack wildcard
        s6.bind(("::", 0))
        assert socket_owner("127.0.0.1", s6.getsockname()[1]) == os.geteuid()
        assert socket_owner("::1", s6.getsockname()[1]) == os.geteuid()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert socket_owner("127.0.0.1", port) is None  # closed: nobody owns it
    assert socket_owner("not an address", 1) is None


@pytest.mark.skipif(shutil.which("lsof") is None, reason="needs lsof")
def test_without_socket_tables_lsof_tells_the_owner():
    # macOS has no /proc/net/udp: the owner comes from lsof there
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert socket_owner("127.0.0.1", port, tables=("/nonexistent/udp",)) == os.geteuid()
    assert socket_owner("127.0.0.1", port, tables=("/nonexistent/udp",)) is None  # closed


@needs_root
def test_socket_owner_of_another_users_process():
    script = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('127.0.0.1', 0))\n"
              "print(s.getsockname()[1], flush=True)\n"
              "sys.stdin.read()\n")
    proc = subprocess.Popen(AS_NOBODY + [sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        port = int(proc.stdout.readline())
        assert socket_owner("127.0.0.1", port) == NOBODY
        policy = TrustPolicy()
        assert not policy.is_owner(("127.0.0.1", port))
        assert not policy.is_owner(("192.168.1.20", port), local=False)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


@needs_root
def test_another_user_cannot_tell_anything_about_paths_outside_the_library(private_setup):
    backend, lib, private, outside = private_setup
    sample = str(sorted(lib.glob("*_sine.wav"))[0])
    with OscServer(backend, port=0) as srv:
        port = srv.address[1]
        answers = as_nobody(port, [[f"{P}/similar", p, 3] for p in outside]
                            + [[f"{P}/select", outside[0]], [f"{P}/similar", sample, 3],
                               [f"{P}/folder/add", str(private)]])
        for path, answer in zip(outside, answers):
            # one message whatever is there: audio, not audio, a folder, unreadable, nothing
            assert answer == [[f"{P}/error", f"{P}/similar",
                               f"not allowed: {path} is not in the library"]]
        select, query, add = answers[len(outside):]
        assert select == [[f"{P}/error", f"{P}/select",
                           f"not allowed: {outside[0]} is not in the library"]]
        assert query[0][:2] == [f"{P}/results/begin", sample]  # the library is open to all
        assert add == [[f"{P}/error", f"{P}/folder/add",
                        "not allowed: only the user running the daemon may do this"]]
        assert backend.folders() == [str(lib)]
        # the daemon's own user gets the real answers
        with Client(srv.address) as me:
            me.send(f"{P}/similar", outside[0], 3)
            assert me.results()[0] == outside[0]
            for path, start in ((outside[1], "not audio"), (outside[4], "no such file")):
                me.send(f"{P}/similar", path, 3)
                err = me.expect(f"{P}/error")
                assert err.args[1].startswith(start), err


@needs_root
def test_query_paths_open_a_folder_to_other_users(private_setup):
    backend, lib, private, outside = private_setup
    with OscServer(backend, port=0, query_paths=[str(private)]) as srv:
        (answer,) = as_nobody(srv.address[1], [[f"{P}/similar", outside[0], 3]])
        assert answer[0][:2] == [f"{P}/results/begin", outside[0]]
        assert answer[-1][0] == f"{P}/results/end"


def test_symlinks_out_of_the_library_open_nothing_to_remote_clients(lan, private_setup):
    ns, net = lan
    backend, lib, private, outside = private_setup
    sample = str(sorted(lib.glob("*_sine.wav"))[0])
    link, linked = str(lib / "link.wav"), str(lib / "linkdir" / "real.wav")
    with OscServer(backend, host=f"{net}.1", port=0, allow=[f"{net}.2"]) as srv:
        got = remote(ns, f"{net}.2", f"{net}.1", srv.address[1],
                     [f"/soundalike/similar|{p}|3" for p in (link, linked, sample)])
    for path, answer in zip((link, linked), got):
        assert answer == [(f"{P}/error", f"{P}/similar",
                           f"not allowed: {path} is not in the library")]
    assert got[2][0][:2] == (f"{P}/results/begin", sample)
