"""Security with real processes and sockets: the LAN allow-list across a network namespace,
no probing of arbitrary paths, nothing a client sends is executed or written."""
import os
import random
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.daemon_proc import Daemon, OscPeer


def _netns_available() -> bool:
    if shutil.which("ip") is None or os.geteuid() != 0:
        return False
    name = f"sa-probe-{os.getpid()}"
    ok = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return ok


@pytest.fixture
def lan():
    """A network namespace (a second host) linked to this one by a veth pair."""
    if not _netns_available():
        pytest.skip("network namespaces are not available here")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns, here, there = f"sa{tag}", f"sah{tag}"[:15], f"sat{tag}"[:15]
    net = f"10.{random.randrange(200, 250)}.{random.randrange(1, 250)}"
    cmds = [["ip", "netns", "add", ns],
            ["ip", "link", "add", here, "type", "veth", "peer", "name", there],
            ["ip", "link", "set", there, "netns", ns],
            ["ip", "addr", "add", f"{net}.1/24", "dev", here],
            ["ip", "link", "set", here, "up"],
            ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.2/24", "dev", there],
            ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{net}.3/24", "dev", there],
            ["ip", "netns", "exec", ns, "ip", "link", "set", there, "up"],
            ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        yield ns, net
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


REMOTE_CLIENT = textwrap.dedent("""
    import socket, sys
    sys.path.insert(0, {root!r})
    from bridge.osc_wire import decode, encode
    src, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(3)
    def ask(address, *args):
        s.sendto(encode(address, *args), (host, port))
        out = []
        try:
            while True:
                data, _ = s.recvfrom(65536)
                for m in decode(data):
                    out.append((m.address,) + tuple(m.args))
                    if m.address in ("/soundalike/status", "/soundalike/error",
                                     "/soundalike/results/end"):
                        return out
        except socket.timeout:
            return out
    for line in sys.stdin:
        address, *args = line.rstrip("\\n").split("|")
        args = [int(a) if a.isdigit() else a for a in args]
        print(repr(ask(address, *args)), flush=True)
""")


def remote(ns, src, host, port, requests):
    script = REMOTE_CLIENT.format(root=os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", script, src, host,
                           str(port)], input="\n".join(requests) + "\n", capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [eval(line) for line in proc.stdout.splitlines()]  # our own repr() output


def wait_listening(host, port, daemon):
    """Until the daemon on ``host`` is idle with 12 files (asked from this machine: allowed)."""
    import socket

    from bridge.osc_wire import decode, encode
    from tests.waiting import wait_for

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(0.3)

        def answered():
            if daemon.proc.poll() is not None:
                raise AssertionError(daemon.log())
            s.sendto(encode("/soundalike/status"), (host, port))
            try:
                msg = decode(s.recvfrom(65536)[0])[0]
            except socket.timeout:
                return None
            return msg.args[0] == 12 and msg.args[2] == "idle"

        wait_for(answered, timeout=60, message="the daemon on the LAN address, idle")


def test_lan_allow_list_and_no_probing(lan, cli_env, library_dir, tmp_path):
    ns, net = lan
    cfg = tmp_path / "lan.toml"
    cfg.write_text(f'[osc]\nallow = ["{net}.2"]\n')
    env = dict(cli_env, SOUNDALIKE_CONFIG=str(cfg))
    d = Daemon(env, [library_dir], extra=["--osc-host", f"{net}.1"])
    d.peer.close()
    d.peer = OscPeer()
    try:
        d.start(wait=False)
        wait_listening(f"{net}.1", d.port, d)
        kick = str(library_dir / "kicks" / "kick_0.wav")
        secret = tmp_path / "secret.wav"
        shutil.copy(kick, secret)  # real audio, but outside the library
        allowed = remote(ns, f"{net}.2", f"{net}.1", d.port, [
            "/soundalike/status", f"/soundalike/similar|{kick}|3",
            f"/soundalike/similar|{secret}|3", "/soundalike/similar|/etc/passwd|3",
            f"/soundalike/folder/add|{tmp_path}"])
        assert allowed[0][0][0] == "/soundalike/status"
        assert allowed[1][0][0] == "/soundalike/results/begin" and len(allowed[1]) == 5
        for answer in allowed[2:4]:
            assert answer[-1][0] == "/soundalike/error" and "not allowed" in answer[-1][2]
        assert "not allowed" in allowed[4][-1][2]
        refused = remote(ns, f"{net}.3", f"{net}.1", d.port,
                         ["/soundalike/status", f"/soundalike/similar|{kick}|3"])
        assert refused == [[], []]  # a client that is not allowed gets nothing at all
    finally:
        d.close()


def test_lan_without_allow_list_refuses_to_start(cli_env, library_dir):
    proc = subprocess.run([sys.executable, "-m", "bridge", "serve", str(library_dir),
                           "--osc-host", "0.0.0.0"], env=cli_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "allow" in proc.stderr and "Traceback" not in proc.stderr


def test_nothing_a_client_sends_is_executed_or_written(cli_env, library_dir, tmp_path):
    canary = tmp_path / "pwned"
    d = Daemon(cli_env, [library_dir]).start()
    try:
        d.wait_idle(indexed=12)
        before = sorted(p for p in tmp_path.rglob("*") if "data" not in p.parts)
        evil = [f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}",
                f"{library_dir}/../../{canary.name}", f"|touch {canary}"]
        for text in evil:
            for address in ("/soundalike/similar", "/soundalike/select",
                            "/soundalike/folder/add"):
                d.peer.send(d.port, address, text)
                reply = d.peer.receive(5.0)
                assert reply is not None
        assert d.status() is not None
        assert not canary.exists()
        after = sorted(p for p in tmp_path.rglob("*") if "data" not in p.parts)
        assert [p for p in after if p not in before and not p.name.endswith(".log")] == []
    finally:
        d.close()
