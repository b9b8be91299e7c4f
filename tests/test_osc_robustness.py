"""Floods, garbage, random messages, remote clients and the allow-list, clean shutdown."""
from __future__ import annotations

import os
import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.errors import ConfigError
from bridge.handlers import Handlers
from bridge.osc_wire import DecodeError, Message, decode, encode, encode_bundle
from bridge.routes import MAX_COUNT, ROUTES
from bridge.server import OscServer
from engine import QueryError, Result

from osc_helpers import Client, library_setup, no_leaked_threads, server  # noqa: F401

P = "/soundalike"


class FakeBackend:
    """Answers for paths under /lib; records what it was asked."""

    def __init__(self, *, block: threading.Event | None = None) -> None:
        self.calls: list[tuple] = []
        self.listeners: list = []
        self.block = block
        self.folders_ = ["/lib"]

    def similar(self, path, k, *, mode=None, weights=None):
        self.calls.append(("similar", path, k, mode, weights))
        if self.block is not None:
            self.block.wait(10)
        if not path.startswith("/lib/"):
            raise QueryError(f"no such file: {path}")
        return [Result(f"/lib/r{i}.wav", 1.0 - i / 1000) for i in range(min(k, 500))]

    def status(self):
        return {"indexed": 500, "pending": 0, "state": "idle"}

    def folders(self):
        return list(self.folders_)

    def add_folder(self, path):
        raise QueryError(f"no such folder: {path}")

    def remove_folder(self, path):
        raise QueryError(f"not a watched folder: {path}")

    def rescan(self):
        self.calls.append(("rescan",))

    def is_allowed_query(self, path):
        return path.startswith("/lib/")

    def is_indexed(self, path):
        return path.startswith("/lib/")

    def add_listener(self, listener):
        self.listeners.append(listener)


class Recorder:
    def __init__(self):
        self.sent: list[tuple] = []
        self.lock = threading.Lock()

    def __call__(self, dest, address, *args):
        encode(address, *args)  # everything sent must be encodable
        with self.lock:
            self.sent.append((dest, address, args))


def offline_server(backend, **kw) -> tuple[OscServer, Recorder]:
    """A server that is never started: handle_datagram() is called directly, sends recorded."""
    srv = OscServer(backend, port=0, **kw)
    rec = Recorder()
    srv.handlers._send = rec
    return srv, rec


def run_queued(srv: OscServer) -> None:
    for lane in (srv._fast, srv._slow):
        while not lane.empty():
            route, req, query = lane.get_nowait()
            srv.handlers.handle(route, req, query)


# -- limits -------------------------------------------------------------------------------
def test_count_is_capped_at_100():
    backend = FakeBackend()
    srv, rec = offline_server(backend)
    srv.handle_datagram(encode(f"{P}/similar", "/lib/a.wav", 100_000), ("127.0.0.1", 5000))
    run_queued(srv)
    assert backend.calls[0][2] == MAX_COUNT == 100
    begin = rec.sent[0]
    assert begin[1] == f"{P}/results/begin" and begin[2] == ("/lib/a.wav", 100)
    assert len(rec.sent) == 102


def test_mode_and_weights_reach_the_backend():
    backend = FakeBackend()
    srv, rec = offline_server(backend)
    srv.handle_datagram(encode(f"{P}/similar", "/lib/a.wav", 3, "timbre", "pitch", 0.5,
                               "envelope", 2), ("127.0.0.1", 5000))
    run_queued(srv)
    assert backend.calls[0][1:] == ("/lib/a.wav", 3, "timbre", {"pitch": 0.5, "envelope": 2.0})


def test_subscriber_cap():
    srv, rec = offline_server(FakeBackend())
    srv.handlers.max_subscribers = 3
    for port in range(6000, 6004):
        srv.handle_datagram(encode(f"{P}/subscribe", port), ("127.0.0.1", 5000))
    assert [s[1] for s in rec.sent] == [f"{P}/subscribed"] * 3 + [f"{P}/error"]
    assert "too many subscribers" in rec.sent[-1][2][1]


def test_reply_ports_are_bounded():
    from bridge.handlers import MAX_REPLY_PORTS

    srv, rec = offline_server(FakeBackend())
    for port in range(2 * MAX_REPLY_PORTS):
        srv.handle_datagram(encode(f"{P}/reply_to", 7000), ("127.0.0.1", 10000 + port))
    assert len(srv.handlers._reply_ports) == MAX_REPLY_PORTS


# -- remote clients and the allow-list ------------------------------------------------------
def test_lan_needs_an_allow_list():
    with pytest.raises(ConfigError, match="allow-list"):
        OscServer(FakeBackend(), host="0.0.0.0", port=0)
    with pytest.raises(ConfigError, match="'nonsense'"):
        OscServer(FakeBackend(), host="0.0.0.0", port=0, allow=["10.0.0.1", "nonsense"])
    with pytest.raises(ConfigError, match="out of range"):
        OscServer(FakeBackend(), port=70000)


def test_clients_not_allowed_get_nothing():
    srv, rec = offline_server(FakeBackend())  # loopback: only this machine
    for msg in (encode(f"{P}/status"), b"garbage", encode(f"{P}/nope")):
        srv.handle_datagram(msg, ("192.168.1.20", 5000))
    assert rec.sent == [] and srv.stats["refused"] == 3


def test_remote_clients_may_only_query_the_library():
    backend = FakeBackend()
    srv, rec = offline_server(backend, allow=["192.168.1.0/24"])
    remote = ("192.168.1.20", 5000)
    srv.handle_datagram(encode(f"{P}/status"), ("192.168.2.1", 5000))  # not in the list
    assert rec.sent == []
    srv.handle_datagram(encode(f"{P}/status"), remote)
    assert rec.sent[-1][1] == f"{P}/status" and rec.sent[-1][0] == remote
    for path in ("/etc/passwd", "/lib/../etc/passwd"):
        srv.handle_datagram(encode(f"{P}/similar", path), remote)
        assert rec.sent[-1][1:] == (f"{P}/error", (f"{P}/similar",
                                                   "not allowed: /etc/passwd is not in the library"))
    srv.handle_datagram(encode(f"{P}/select", "/home/me/secret.wav"), remote)
    assert "not allowed" in rec.sent[-1][2][1]
    for address in (f"{P}/folder/add", f"{P}/folder/remove"):
        srv.handle_datagram(encode(address, "/"), remote)
        assert rec.sent[-1][2] == (address, "not allowed from a remote client")
    assert backend.calls == []
    srv.handle_datagram(encode(f"{P}/similar", "/lib/a.wav", 2), remote)
    run_queued(srv)
    assert backend.calls == [("similar", "/lib/a.wav", 2, None, None)]
    assert rec.sent[-1][1] == f"{P}/results/end"
    # this machine is never refused, even when listening on every interface
    srv2, rec2 = offline_server(FakeBackend(), host="0.0.0.0", allow=["10.1.2.3"])
    srv2.handle_datagram(encode(f"{P}/ping"), ("127.0.0.1", 5000))
    srv2.handle_datagram(encode(f"{P}/ping"), ("10.1.2.3", 5000))
    srv2.handle_datagram(encode(f"{P}/ping"), ("10.1.2.4", 5000))
    assert [s[0][0] for s in rec2.sent] == ["127.0.0.1", "10.1.2.3"]


# -- floods -------------------------------------------------------------------------------
def _garbage(rng: random.Random) -> bytes:
    good = [encode(f"{P}/similar", "/lib/a.wav", 3), encode(f"{P}/status"),
            encode_bundle([encode(f"{P}/ping", 1)])]
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    base = rng.choice(good)
    if kind == 1:
        return base[:rng.randrange(1, len(base))]  # truncated
    if kind == 2:
        data = bytearray(base)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return b"/" + rng.randbytes(rng.randrange(0, 100))


def test_thousands_of_garbage_datagrams_then_still_answering(server):
    rng = random.Random(1234)
    with Client(server.address) as c, Client(server.address) as probe:
        for i in range(3000):
            c.send_raw(_garbage(rng))
            if i % 500 == 0:
                time.sleep(0.01)  # let the receiver keep up a little (the socket buffer is finite)
        probe.send(f"{P}/status")
        assert probe.expect(f"{P}/status", 10).tags == "iis"
        deadline = time.monotonic() + 20
        while server.stats["datagrams"] < 2000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.stats["malformed"] > 500
        assert all(t.is_alive() for t in server._threads)


def test_query_flood_is_answered_busy_and_status_stays_answered(no_leaked_threads):
    release = threading.Event()
    backend = FakeBackend(block=release)
    with OscServer(backend, port=0, queue_size=4, slow_queue_size=2) as srv, \
            Client(srv.address) as flood, Client(srv.address) as probe:
        try:
            for i in range(500):
                flood.send(f"{P}/similar", f"/lib/{i}.wav", 5)
            busy = flood.expect(f"{P}/error", 10)
            assert busy.args[1].startswith("busy")
            probe.send(f"{P}/status")
            assert probe.expect(f"{P}/status", 5).args == (500, 0, "idle")
            assert srv._fast.qsize() <= 4
        finally:
            release.set()
        deadline = time.monotonic() + 10
        while srv.stats["datagrams"] + srv.stats["inbox_dropped"] < 500 and \
                time.monotonic() < deadline:
            time.sleep(0.02)
    # what found no room was answered busy, or dropped where one sender's share of the inbox
    # (128 datagrams) was full
    assert srv.stats["busy"] > 0
    assert srv.stats["busy"] + srv.stats["inbox_dropped"] > 400


def test_progress_pushes_are_rate_limited_and_the_last_one_arrives(no_leaked_threads):
    backend = FakeBackend()
    with OscServer(backend, port=0, progress_interval=0.2) as srv, Client(srv.address) as c:
        c.send(f"{P}/subscribe", c.port)
        c.expect(f"{P}/subscribed")
        (listener,) = backend.listeners
        for i in range(1, 1001):
            listener("progress", (i, 1000 - i, "indexing"))
        listener("indexed", ("/lib/new.wav",))
        listener("progress", (1001, 0, "idle"))
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = c.recv(0.5)
            if m is None:
                break
            got.append(m)
            if m.args == (1001, 0, "idle"):
                break
    progress = [m for m in got if m.address == f"{P}/progress"]
    assert progress[-1].args == (1001, 0, "idle")
    assert len(progress) <= 3
    assert (f"{P}/indexed", ("/lib/new.wav",)) in [(m.address, m.args) for m in got]


def test_stop_joins_every_thread_and_frees_the_port(library_setup, no_leaked_threads):
    srv = OscServer(library_setup[0], port=0).start()
    host, port = srv.address
    names = {t.name for t in threading.enumerate()}
    assert {"osc-receive", "osc-fast", "osc-slow", "osc-push"} <= names
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2
    srv.stop()  # idempotent
    again = OscServer(library_setup[0], port=port).start()  # the port is free again
    again.stop()


def test_cannot_listen_is_a_user_error(library_setup, no_leaked_threads):
    from bridge.errors import UserError

    with OscServer(library_setup[0], port=0) as srv:
        with pytest.raises(UserError, match="cannot listen"):
            OscServer(library_setup[0], port=srv.address[1]).start()


# -- property-based -------------------------------------------------------------------------
_arg = st.one_of(
    st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=30).map(lambda s: s.replace("\x00", "")),
    st.sampled_from(["/lib/a.wav", "/lib/b.wav", "/etc/passwd", "", "/", "relative"]),
    st.booleans(), st.none(), st.binary(max_size=20),
)
_address = st.one_of(st.sampled_from(sorted(ROUTES)),
                     st.text(max_size=20).map(lambda s: "/" + s.replace("\x00", "")))
_sender = st.sampled_from([("127.0.0.1", 5000), ("127.0.0.1", 5001), ("192.168.1.20", 5000),
                           ("10.9.9.9", 5000)])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(st.tuples(_address, st.lists(_arg, max_size=5), _sender),
                         min_size=1, max_size=8))
def test_random_messages_never_break_the_handlers(messages):
    backend = FakeBackend()
    srv, rec = offline_server(backend, allow=["192.168.1.0/24"])
    for address, args, sender in messages:
        before = len(rec.sent)
        srv.handle_datagram(encode(address, *args), sender)
        run_queued(srv)
        new = rec.sent[before:]
        if sender[0] == "10.9.9.9":
            assert new == []  # not allowed: nothing at all
            continue
        for dest, addr, out in new:
            assert dest[0] == sender[0]
            if addr == f"{P}/error":
                assert len(out) == 2 and all(isinstance(x, str) for x in out)
                assert out[0] == address and out[1]
        if address in (f"{P}/cursor/next", f"{P}/cursor/prev") and len(args) == 1 \
                and args[0] in (0, False):
            continue  # a button release: ignored on purpose
        assert new, f"no answer to {address} {args}"
        if address == f"{P}/similar" and new[0][1] != f"{P}/error":
            assert new[0][1] == f"{P}/results/begin"
    for call in backend.calls:
        if call[0] == "similar":
            assert 1 <= call[2] <= MAX_COUNT


def test_every_argument_type_of_a_third_party_encoder_decodes():
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder("/soundalike/x")
    values = [(-7, "i"), (1.5, "f"), ("p", "s"), (b"ab", "b"), (-2 ** 40, "h"), (2.25, "d"),
              (True, "T"), (False, "F"), (None, "N"), (0x11223344, "r"), ((1, 2, 3, 4), "m")]
    for value, tag in values:
        builder.add_arg(value, tag)
    (msg,) = decode(builder.build().dgram)
    assert msg.tags == "ifsbhdTFNrm"
    assert msg.args == (-7, 1.5, "p", b"ab", -2 ** 40, 2.25, True, False, None, 0x11223344,
                        0x01020304)
    # time tag, character and infinity (python-osc cannot build these as arguments)
    (msg,) = decode(b"/a\x00\x00,tcI\x00\x00\x00\x00" + (5).to_bytes(8, "big")
                    + b"\x00\x00\x00A")
    assert msg.args == (5, "A", float("inf"))
    with pytest.raises(DecodeError, match="argument 1 \\(h\\)"):
        decode(b"/a\x00\x00,h\x00\x00\x00\x00\x00")


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_decode_or_raise_decode_error(data):
    try:
        items = decode(data)
    except DecodeError:
        return
    assert all(isinstance(i, (Message, DecodeError)) for i in items)


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 400), flips=st.lists(st.tuples(st.integers(0, 400),
                                                          st.integers(0, 255)), max_size=4))
def test_mutated_datagrams_never_break_the_server(cut, flips):
    srv, rec = offline_server(FakeBackend())
    data = bytearray(encode_bundle([encode(f"{P}/similar", "/lib/é.wav", 3, "default"),
                                    encode(f"{P}/subscribe", 9001, 4),
                                    encode(f"{P}/cursor/pick", 2.0)]))
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    srv.handle_datagram(bytes(data[:cut] if cut else data), ("127.0.0.1", 5000))
    run_queued(srv)
