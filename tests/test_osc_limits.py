"""Bounded work per datagram, a fair inbox, the reply budget, expiring subscriptions, and the
small protocol edges (typed ping echo, replies too large for a datagram, ``,S`` strings).

Real servers on 127.0.0.1 and real UDP sockets throughout; budgets are asserted as byte and
datagram counts (the server is given a budget that does not refill, so the bounds are exact).
"""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from bridge.budget import ReplyBudget
from bridge.osc_wire import (MAX_ARGS, DecodeError, Message, decode, decode_message, encode,
                             encode_bundle)
from bridge.routes import MAX_SUBSCRIBERS_PER_HOST
from bridge.server import MAX_REPLY, OscServer
from engine import QueryError, Result

from osc_helpers import Client, library_setup, no_leaked_threads, server  # noqa: F401
from tests.waiting import wait_for

P = "/soundalike"


def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (4 - len(raw) % 4)


def heavy(address: str) -> bytes:
    """A 64 KB type tag string of ``N`` (no data): before the fix, ~80 ms of decoding each."""
    return _pad(address.encode()) + _pad(b"," + b"N" * 65_000)


class ListBackend:
    """Answers every query under /lib with up to 100 results (about 60 bytes a datagram)."""

    def __init__(self, folders=("/lib",)) -> None:
        self.folders_ = list(folders)

    def similar(self, path, k, *, mode=None, weights=None):
        if not path.startswith("/lib/"):
            raise QueryError(f"no such file: {path}")
        return [Result(f"/lib/result-{i:03d}.wav", 1.0 - i / 1000) for i in range(k)]

    def status(self):
        return {"indexed": 100, "pending": 0, "state": "idle"}

    def folders(self):
        return list(self.folders_)

    def folder_origins(self):
        return [{"path": f, "origin": "config", "online": True} for f in self.folders_]

    def rescan(self):
        pass

    def is_allowed_query(self, path):
        return path.startswith("/lib/")

    def is_indexed(self, path):
        return path.startswith("/lib/")

    def add_listener(self, listener):
        pass


class Counter:
    """A UDP socket that counts what arrives (datagrams, bytes, addresses), read as it comes by
    a thread of its own so that the kernel's buffer never drops what the server sent."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.datagrams = self.bytes = 0
        self.addresses: list[str] = []
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="counter", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.addresses.append(decode(data)[0].address)
            self.datagrams += 1
            self.bytes += len(data)
            self.last = time.monotonic()

    def collect(self, quiet: float = 0.5) -> "Counter":
        """Until nothing has arrived for ``quiet`` seconds."""
        wait_for(lambda: time.monotonic() - self.last >= quiet, timeout=60,
                 message="the replies to stop")
        return self

    def count(self, address: str) -> int:
        return self.addresses.count(address)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def settled(srv: OscServer, handled: int) -> None:
    """Until ``handled`` datagrams were handled and both worker lanes are empty."""
    wait_for(lambda: srv.stats["datagrams"] + srv.stats["inbox_dropped"] >= handled
             and srv._fast.empty() and srv._slow.empty(), timeout=30,
             message="the server to handle every datagram")


# -- bounded work per datagram ----------------------------------------------------------------
def test_a_huge_type_tag_string_is_refused_before_its_arguments_are_read():
    with pytest.raises(DecodeError, match="too many arguments \\(65000; at most 128\\)"):
        decode(heavy(f"{P}/similar"))
    (msg,) = decode(encode("/a", *range(MAX_ARGS)))
    assert len(msg.args) == MAX_ARGS
    # a bundle may not multiply the bound: 512 arguments for the whole datagram
    bundle = encode_bundle([encode("/a", *range(100))] * 8)
    items = decode(bundle)
    assert [isinstance(i, Message) for i in items] == [True] * 5 + [False] * 3
    assert "too many arguments" in items[-1].reason


def _flood(server_address, payload: bytes, stop: threading.Event, senders: int = 4) -> None:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
    try:
        n = 0
        while not stop.is_set():
            socks[n % senders].sendto(payload, server_address)
            n += 1
            if n % 64 == 0:
                time.sleep(0.001)  # a burst, not a kernel-buffer test: let the receiver run
    finally:
        for s in socks:
            s.close()


def _ask(client: Client, address: str, *args, reply: str, attempts: int = 5) -> bool:
    """Send until ``reply`` arrives (UDP may drop a datagram when a buffer is full)."""
    for _ in range(attempts):
        client.send(address, *args)
        deadline = time.monotonic() + 2.0
        while (m := client.recv(max(0.0, deadline - time.monotonic()))) is not None:
            if m.address == reply:
                return True
    return False


def test_slow_to_decode_datagrams_do_not_hold_up_queries(server, library_setup):
    samples = library_setup[2]
    stop = threading.Event()
    flood = threading.Thread(target=_flood, args=(server.address, heavy(f"{P}/similar"), stop))
    flood.start()
    try:
        wait_for(lambda: server.stats["datagrams"] >= 100, timeout=30,
                 message="the flood to arrive")
        with Client(server.address) as c:
            answered = sum(_ask(c, f"{P}/similar", str(samples[i % 8]), 3,
                                reply=f"{P}/results/end") for i in range(20))
        during = server.stats["datagrams"]
    finally:
        stop.set()
        flood.join()
    assert answered == 20  # every query interleaved with the flood was answered
    assert during >= 400   # and the flood went on meanwhile
    assert server.stats["malformed"] >= 300  # refused: too many arguments
    inbox = server.inbox_stats()
    assert inbox["peak"] <= 2048 and inbox["peak_per_sender"] <= 128


def test_slow_to_decode_pings_do_not_slow_the_receiving_thread(server):
    stop = threading.Event()
    flood = threading.Thread(target=_flood, args=(server.address, heavy(f"{P}/ping"), stop))
    flood.start()
    try:
        wait_for(lambda: server.stats["datagrams"] >= 100, timeout=30,
                 message="the flood to arrive")
        with Client(server.address) as c:
            answered = sum(_ask(c, f"{P}/status", reply=f"{P}/status") for _ in range(20))
        during = server.stats["datagrams"]
    finally:
        stop.set()
        flood.join()
    assert answered == 20 and during >= 400 and server.stats["malformed"] >= 300


def test_one_sender_cannot_fill_the_inbox_for_others(no_leaked_threads):
    """While the decoder is held, one sender gets 128 places and the next sender still has room;
    once it runs, the second sender is served in turn, not after the first one's backlog."""
    srv = OscServer(ListBackend(), port=0, inbox_per_sender=128)
    gate = threading.Event()
    order: list[int] = []
    handle = srv.handle_datagram

    def held(data, sender):
        gate.wait(10)
        order.append(sender[1])
        handle(data, sender)

    srv.handle_datagram = held
    srv.start()
    try:
        with Client(srv.address) as a, Client(srv.address) as b:
            for _ in range(400):
                a.send(f"{P}/cursor/get")
            wait_for(lambda: srv.stats["inbox_dropped"] + srv.inbox_stats()["waiting"] >= 300,
                     timeout=10, message="the first sender's datagrams to arrive")
            for _ in range(3):
                b.send(f"{P}/cursor/get")
            wait_for(lambda: b.port in [k[1] for k in srv._inbox._queues], timeout=10,
                     message="the second sender's datagrams to be queued")
            assert srv.inbox_stats()["peak_per_sender"] == 128
            gate.set()
            wait_for(lambda: order.count(b.port) == 3, timeout=10,
                     message="the second sender to be served")
    finally:
        gate.set()
        srv.stop()
    first_b = order.index(b.port)
    assert first_b <= 2  # served in turn: at most the datagram in hand and one more before it
    assert order.count(a.port) <= 129


# -- the reply budget ---------------------------------------------------------------------------
BURST = 65_536
AMP = 16


def test_reply_to_and_bundles_of_queries_do_not_amplify_toward_a_third_port(no_leaked_threads):
    srv = OscServer(ListBackend(), port=0, budget_rate=0, budget_burst=BURST,
                    amplification=AMP).start()
    third = Counter()
    try:
        with Client(srv.address) as asker:
            reg = encode(f"{P}/reply_to", third.port)
            asker.send_raw(reg)
            bundle = encode_bundle([encode(f"{P}/similar", f"/lib/q{i}.wav", 100)
                                    for i in range(32)])
            for _ in range(20):
                asker.send_raw(bundle)
                time.sleep(0.01)  # not a flood of the lanes: each bundle is served
            sent = len(reg) + 20 * len(bundle)
            settled(srv, 21)
            third.collect()
    finally:
        srv.stop()
        third.close()
    answer = len(encode(f"{P}/result", 100, "/lib/result-099.wav", 0.9)) * 102  # one, at most
    unbounded = 20 * 32 * answer * 0.9  # what 640 answers would have been
    assert third.bytes <= BURST + AMP * sent + answer
    assert third.bytes < unbounded / 5
    assert third.count(f"{P}/results/begin") >= 1  # within the budget it is served...
    # ...and only whole answers: every begun answer ends, with all its results
    assert third.count(f"{P}/results/begin") == third.count(f"{P}/results/end")
    assert third.count(f"{P}/result") == 100 * third.count(f"{P}/results/end")
    assert srv.stats["over_budget"] > 0


def test_subscribers_get_at_most_their_budget_and_are_capped_per_host(no_leaked_threads):
    srv = OscServer(ListBackend(), port=0, budget_rate=0, budget_burst=BURST).start()
    subs = [Counter() for _ in range(MAX_SUBSCRIBERS_PER_HOST)]
    try:
        with Client(srv.address) as ctl:
            for s in subs:
                ctl.send(f"{P}/subscribe", s.port, 100)
                assert ctl.expect(f"{P}/subscribed").args == (s.port, 100)
            extra = Counter()
            ctl.send(f"{P}/subscribe", extra.port)
            err = ctl.expect(f"{P}/error")
            assert err.args[1] == f"too many subscribers from 127.0.0.1 " \
                                  f"({MAX_SUBSCRIBERS_PER_HOST})"
            extra.close()
            for i in range(20):  # the asker's own answers are not limited (its own socket)
                ctl.send(f"{P}/similar", f"/lib/q{i}.wav", 100)
                assert len(ctl.results()[1]) == 100
        settled(srv, MAX_SUBSCRIBERS_PER_HOST + 1 + 20)
        for s in subs:
            s.collect(0.3)
    finally:
        srv.stop()
        for s in subs:
            s.close()
    answer = len(encode(f"{P}/result", 100, "/lib/result-099.wav", 0.9)) * 102
    slots = len(encode(f"{P}/slot/100", "result-099.wav", 0.9)) * 100
    unbounded = 20 * (answer + slots) * 0.9
    for s in subs:
        assert s.bytes <= BURST + answer  # a whole answer may overdraw the bucket once
        assert s.bytes < unbounded / 2
        assert s.count(f"{P}/results/begin") == s.count(f"{P}/results/end") >= 1


def test_a_client_querying_from_its_own_socket_is_not_limited(no_leaked_threads):
    with OscServer(ListBackend(), port=0, budget_rate=0, budget_burst=BURST) as srv, \
            Client(srv.address) as c:
        for i in range(40):  # ~40 x 6 KB: far more than the budget of any other destination
            c.send(f"{P}/similar", f"/lib/q{i}.wav", 100)
            assert len(c.results()[1]) == 100
        assert srv.stats["over_budget"] == 0


def test_subscriptions_expire_unless_renewed(no_leaked_threads):
    with OscServer(ListBackend(), port=0) as srv, Client(srv.address) as ctl, \
            Client(srv.address) as sub:
        srv.handlers.subscription_ttl = 1.0
        ctl.send(f"{P}/subscribe", sub.port)
        ctl.expect(f"{P}/subscribed")
        ctl.send(f"{P}/similar", "/lib/a.wav", 2)
        ctl.results()
        assert sub.results()[0] == "/lib/a.wav"  # pushed while subscribed
        wait_for(lambda: not srv.handlers.subscribers(), timeout=10,
                 message="the subscription to expire")
        sub.drain()
        ctl.send(f"{P}/similar", "/lib/b.wav", 2)
        ctl.results()
        assert sub.drain(0.5) == []  # expired: nothing pushed
        srv.handlers.subscription_ttl = 3600.0
        ctl.send(f"{P}/subscribe", sub.port)  # subscribing again renews it
        ctl.expect(f"{P}/subscribed")
        assert [m.address for m in sub.drain()] == [f"{P}/cursor"]  # brought up to date
        ctl.send(f"{P}/similar", "/lib/c.wav", 2)
        ctl.results()
        assert sub.results()[0] == "/lib/c.wav"


def test_reply_budget_rules():
    now = [0.0]
    b = ReplyBudget(rate=1000, burst=10_000, amplification=16,
                    is_local=lambda host: host == "127.0.0.1", clock=lambda: now[0])
    remote1, remote2 = ("192.168.1.20", 9001), ("192.168.1.20", 9002)
    assert b.allow(remote1, "/x", 6000)
    assert not b.allow(remote2, "/x", 6000)  # a remote host's ports share one bucket
    assert b.allow(("127.0.0.1", 9001), "/x", 6000)  # local ports have their own
    assert b.allow(("127.0.0.1", 9002), "/x", 6000)
    b.credit(remote2, 200)  # a 200-byte request earns 16 x 200 bytes
    assert b.allow(remote1, "/x", 7200)  # 4,000 left + 3,200
    assert not b.allow(remote1, "/x", 1)
    now[0] += 2.0  # refills at 1,000 bytes a second
    assert b.allow(remote1, "/x", 2000) and not b.allow(remote1, "/x", 1)
    # an answer is sent whole or not at all
    now[0] += 10.0  # full again
    begin = ("/q", 20)
    assert b.allow(remote1, "/soundalike/results/begin", 400, begin)  # 22 x 400 > 10,000
    for _ in range(20):  # the results overdraw the bucket rather than break the answer
        assert b.allow(remote1, "/soundalike/result", 400)
    assert b.allow(remote1, "/soundalike/results/end", 400)
    assert not b.allow(remote1, "/soundalike/results/begin", 400, begin)
    assert not b.allow(remote1, "/soundalike/result", 1)  # the refused answer's rest too
    assert not b.allow(remote1, "/soundalike/results/end", 1)


# -- protocol edges ---------------------------------------------------------------------------
def test_ping_echoes_every_argument_type_as_received(no_leaked_threads):
    body = (struct.pack(">d", 1e300) + struct.pack(">Q", 2 ** 63) + struct.pack(">Q", 2 ** 64 - 1)
            + struct.pack(">q", -2 ** 63) + struct.pack(">f", 3.5) + struct.pack(">i", -1)
            + _pad(b"sym") + struct.pack(">I", 0x1F600) + struct.pack(">I", 0xDEADBEEF)
            + struct.pack(">I", 0x90407F00))
    tags = b",dtthfiScrmTFNI"
    request = _pad(f"{P}/ping".encode()) + _pad(tags) + body
    with OscServer(ListBackend(), port=0) as srv, Client(srv.address) as c:
        c.send_raw(request)
        c.sock.settimeout(5)
        data = c.sock.recv(65536)
        assert data == _pad(f"{P}/pong".encode()) + _pad(tags.replace(b"S", b"s")) + body
        c.send(f"{P}/ping", 1e300, 2 ** 62)  # encoded as d and h
        assert c.expect(f"{P}/pong").args == (1e300, 2 ** 62)
        assert srv.stats["malformed"] == 0


def test_a_reply_too_large_for_a_datagram_is_answered_with_an_error(no_leaked_threads):
    folders = [f"/{'long-folder-name-' * 120}{i}" for i in range(40)]  # ~80 KB of names
    with OscServer(ListBackend(folders), port=0) as srv, Client(srv.address) as c:
        c.send(f"{P}/folders")
        # the list of all folders is refused; the one-per-folder messages still fit
        err = c.expect(f"{P}/error", skip=(f"{P}/folder",))
        assert err.args[0] == f"{P}/folders"
        assert err.args[1].startswith("reply too large for one datagram")
        assert f"at most {MAX_REPLY}" in err.args[1]
        # an error quoting a 60 KB address would be too large itself: the quote is cut
        c.send(f"/{'x' * 60_000}")
        err = c.expect(f"{P}/error", skip=(f"{P}/folder",))
        assert err.args[0].startswith("/xxx") and err.args[0].endswith("(60001 characters)")
        assert err.args[1].startswith("unknown address: /xxx")
        assert srv.stats["too_large"] == 1


def test_symbol_strings_are_strings_everywhere(no_leaked_threads):
    request = _pad(f"{P}/similar".encode()) + _pad(b",Si") + _pad(b"/lib/a.wav") \
        + struct.pack(">i", 3)
    assert decode_message(request).tags == "si"
    with OscServer(ListBackend(), port=0) as srv, Client(srv.address) as c:
        c.send_raw(request)
        query, rows = c.results()
        assert query == "/lib/a.wav" and len(rows) == 3
