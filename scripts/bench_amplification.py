"""Reply bytes per request byte toward destinations that did not ask (docs/security.md).

A real OscServer on 127.0.0.1 with a backend that answers every query with 100 results; a
client registers ``reply_to`` toward a third port and sends 20 bundles of 32 queries, then 16
subscribers (slots 100) watch 20 queries.  Prints the bytes sent and received, with the reply
budget off (as in the first round) and at its defaults.

    python scripts/bench_amplification.py
"""
from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.osc_wire import decode, encode, encode_bundle  # noqa: E402
from bridge.server import OscServer  # noqa: E402
from engine import QueryError, Result  # noqa: E402

P = "/soundalike"


class Backend:
    def similar(self, path, k, *, mode=None, weights=None):
        if not path.startswith("/lib/"):
            raise QueryError(f"no such file: {path}")
        return [Result(f"/lib/result-{i:03d}.wav", 1.0 - i / 1000) for i in range(k)]

    def status(self):
        return {"indexed": 100, "pending": 0, "state": "idle"}

    def folders(self):
        return ["/lib"]

    def is_allowed_query(self, path):
        return path.startswith("/lib/")

    def is_indexed(self, path):
        return path.startswith("/lib/")

    def add_listener(self, listener):
        pass


class Counter:
    def __init__(self, quiet: float = 3.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(quiet)
        self.port = self.sock.getsockname()[1]
        self.bytes = 0
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                self.bytes += len(self.sock.recv(65536))
            except socket.timeout:
                return

    def join(self) -> int:
        self.thread.join()
        self.sock.close()
        return self.bytes


def ask(sock, server, data: bytes, until: str) -> None:
    sock.sendto(data, server)
    while decode(sock.recv(65536))[0].address != until:
        pass


def run(label: str, **kw) -> None:
    srv = OscServer(Backend(), port=0, queue_size=4096, **kw).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        c.settimeout(10)
        third = Counter()
        reg = encode(f"{P}/reply_to", third.port)
        c.sendto(reg, srv.address)
        bundle = encode_bundle([encode(f"{P}/similar", f"/lib/q{i}.wav", 100)
                                for i in range(32)])
        for _ in range(20):
            c.sendto(bundle, srv.address)
            time.sleep(0.02)
        sent, got = len(reg) + 20 * len(bundle), third.join()
        print(f"{label}: reply_to + 20 bundles of 32 queries: {sent} B sent, {got} B to the "
              f"third port (x{got / sent:.1f})")
        c.sendto(encode(f"{P}/reply_to", 0), srv.address)
        time.sleep(0.2)
        while True:  # what the registration sent back
            try:
                c.settimeout(0.2)
                c.recv(65536)
            except socket.timeout:
                break
        c.settimeout(10)
        subs = [Counter() for _ in range(16)]
        sent = 0
        for s in subs:
            m = encode(f"{P}/subscribe", s.port, 100)
            sent += len(m)
            ask(c, srv.address, m, f"{P}/subscribed")
        for i in range(20):
            m = encode(f"{P}/similar", f"/lib/q{i}.wav", 100)
            sent += len(m)
            ask(c, srv.address, m, f"{P}/results/end")
        got = [s.join() for s in subs]
        print(f"{label}: 16 subscribers, 20 queries: {sent} B sent, {sum(got)} B to the "
              f"subscribers (x{sum(got) / sent:.0f}), {max(got)} B at most to one")
    srv.stop()


if __name__ == "__main__":
    run("budget off", budget_rate=1e12, budget_burst=1e12)
    run("defaults (64 KB, 32 KB/s, x16)")
