"""Running the real daemon (`python -m bridge serve`) in a subprocess and talking OSC to it."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.client import receive
from tests.waiting import wait_for


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OscPeer:
    """A UDP socket on 127.0.0.1 that sends requests and collects replies."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def send(self, target_port: int, address: str, *args) -> None:
        b = OscMessageBuilder(address=address)
        for a in args:
            b.add_arg(a)
        self.sock.sendto(b.build().dgram, ("127.0.0.1", target_port))

    def receive(self, timeout: float = 5.0, address: str | None = None):
        """The next message (address, args), optionally skipping others; None on timeout."""
        m = receive(self.sock, lambda m: address is None or m.address == address, timeout)
        return (m.address, list(m.args)) if m is not None else None

    def request(self, target_port: int, address: str, *args, reply: str | None = None,
                timeout: float = 5.0):
        self.send(target_port, address, *args)
        return self.receive(timeout, reply or address)

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """`python -m bridge serve FOLDER...` with its own data dir, config and OSC port."""

    def __init__(self, env: dict, folders: list[Path], *, port: int | None = None,
                 extra: list[str] | None = None) -> None:
        self.env = env
        self.port = port or free_udp_port()
        self.args = [sys.executable, "-m", "bridge", "serve", *map(str, folders),
                     "--osc-port", str(self.port), *(extra or [])]
        self.proc: subprocess.Popen | None = None
        self.peer = OscPeer()
        self.stderr_path = Path(env["SOUNDALIKE_DATA_DIR"]).parent / f"daemon-{self.port}.log"

    def start(self, *, wait: bool = True) -> "Daemon":
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self._err, start_new_session=True)
        if wait:
            wait_for(lambda: self.status(timeout=0.3) is not None, timeout=60,
                     message=f"the daemon to answer (log: {self.log()})")
        return self

    def status(self, timeout: float = 2.0):
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log()}")
        reply = self.peer.request(self.port, "/soundalike/status", timeout=timeout)
        return reply[1] if reply else None

    def wait_idle(self, *, indexed: int | None = None, timeout: float = 60.0):
        def idle():
            st = self.status()
            if st and st[2] == "idle" and st[1] == 0 and (indexed is None or st[0] == indexed):
                return st
            return None
        return wait_for(idle, timeout=timeout, interval=0.1, message="the daemon to be idle")

    def signal(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def close(self) -> None:
        self.kill()
        self.peer.close()
        if getattr(self, "_err", None):
            self._err.close()
