"""The OSC protocol over real UDP on 127.0.0.1: a real OscServer on a DaemonBackend (MFCC
encoder, tiny synthesized WAVs), driven by a raw client and by python-osc's client."""
from __future__ import annotations

import os
import threading

import pytest

from bridge.osc_wire import encode, encode_bundle
from bridge.server import OscServer

from osc_helpers import Client, library_setup, no_leaked_threads, server  # noqa: F401

P = "/soundalike"


@pytest.fixture
def client(server):
    with Client(server.address) as c:
        yield c


def test_status(client, library_setup):
    client.send(f"{P}/status")
    m = client.expect(f"{P}/status")
    assert m.tags == "iis"
    assert m.args == (len(library_setup[2]), 0, "idle")


def test_similar_indexed_file(client, library_setup):
    samples = library_setup[2]
    q = str(samples[0])
    client.send(f"{P}/similar", q, 3)
    query, rows = client.results()
    assert query == q
    assert [r[0] for r in rows] == [1, 2, 3]
    scores = [r[2] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    paths = [r[1] for r in rows]
    assert q not in paths and all(os.path.isabs(p) for p in paths)
    assert paths[0] == str(samples[1])  # the other low sine is the closest


def test_similar_default_count_and_one_datagram_per_result(client, library_setup):
    samples = library_setup[2]
    client.send(f"{P}/similar", str(samples[2]))
    _, rows = client.results()
    assert len(rows) == len(samples) - 1  # default 10, but only 7 others exist


def test_similar_outside_file_with_accents(client, library_setup):
    outside = str(library_setup[3])
    client.send(f"{P}/similar", outside, 2)
    query, rows = client.results()
    assert query == outside and len(rows) == 2
    assert "sine" in os.path.basename(rows[0][1])


@pytest.mark.parametrize("address, args, needle", [
    (f"{P}/similar", ("/no/such/file.wav", 3), "no such file"),
    (f"{P}/similar", ("relative/path.wav",), "not an absolute path"),
    (f"{P}/similar", (1.5,), "wrong arguments"),
    (f"{P}/similar", ("/a.wav", "three"), "wrong arguments"),
    (f"{P}/similar", ("/a.wav", 3, "default", "timbre"), "wrong arguments"),
    (f"{P}/similar", (), "no selection"),
    (f"{P}/similar", ("/a.wav", 0), "count must be at least 1"),
    (f"{P}/status", (1,), "wrong arguments"),
    (f"{P}/reply_to", (), "wrong arguments"),
    (f"{P}/reply_to", ("9000",), "wrong arguments"),
    (f"{P}/reply_to", (70000,), "port out of range"),
    (f"{P}/subscribe", (1, 2, 3), "wrong arguments"),
    (f"{P}/subscribe", (9000, 101), "slots out of range"),
    (f"{P}/unsubscribe", (9000,), "not subscribed"),
    (f"{P}/cursor/pick", ("x",), "wrong arguments"),
    (f"{P}/cursor/pick", (1.5,), "wrong arguments"),
    (f"{P}/folder/add", ("/no/such/folder",), "no such folder"),
    (f"{P}/folder/remove", ("/not/watched",), "not a watched folder"),
    (f"{P}/folders", ("x",), "wrong arguments"),
    (f"{P}/nope", (), "unknown address"),
    ("/other/app", (1,), "unknown address"),
])
def test_errors(client, address, args, needle):
    client.send(address, *args)
    m = client.expect(f"{P}/error")
    assert m.tags == "ss"
    assert m.args[0] == address
    assert needle in m.args[1]


def test_error_not_audio(client, library_setup):
    junk = str(library_setup[4])
    client.send(f"{P}/similar", junk, 3)
    m = client.expect(f"{P}/error")
    assert m.args[0] == f"{P}/similar" and m.args[1].startswith("not audio")


def test_non_utf8_path_is_read_as_its_bytes(client):
    # a file name need not be UTF-8: the path argument is taken byte for byte (surrogate
    # escapes), and the error names it with the same bytes
    dgram = b"/soundalike/similar\x00,s\x00\x00" + b"/no/such/\xff\xfe.wav\x00"
    assert len(dgram) % 4 == 0
    client.send_raw(dgram)
    m = client.expect(f"{P}/error")
    assert m.args[0] == f"{P}/similar" and m.args[1].startswith("no such file")
    assert "/no/such/\udcff\udcfe.wav" in m.args[1]


def test_non_utf8_address_is_malformed(client):
    client.send_raw(b"/soundalike/\xffx\x00\x00,\x00\x00\x00")
    m = client.expect(f"{P}/error")
    assert "the address is not valid UTF-8" in m.args[1]


@pytest.mark.parametrize("dgram, address", [
    (encode(f"{P}/similar", "/a.wav", 3)[:-2], f"{P}/similar"),  # truncated int
    (encode(f"{P}/similar", "/a.wav")[:-4], f"{P}/similar"),     # truncated string
    (b"/soundalike/status\x00\x00xyz\x00", f"{P}/status"),      # no comma
    (b"/soundalike/sta", ""),                                      # truncated address
    (b"garbage", ""),
    (b"#bundle\x00\x00\x00", ""),
])
def test_malformed_datagrams_are_answered(client, dgram, address):
    client.send_raw(dgram)
    m = client.expect(f"{P}/error")
    assert m.args[0] == address and m.args[1].startswith("malformed")


def test_bundle_messages_are_all_handled(client):
    client.send_raw(encode_bundle([encode(f"{P}/ping", 7), encode(f"{P}/status"),
                                   encode_bundle([encode(f"{P}/ping", 8)])]))
    got = [client.expect(a) for a in (f"{P}/pong", f"{P}/status", f"{P}/pong")]
    assert got[0].args == (7,) and got[1].tags == "iis" and got[2].args == (8,)


def test_reply_to_port(server, library_setup):
    with Client(server.address) as sender, Client(server.address) as listener:
        sender.send(f"{P}/reply_to", listener.port)
        assert listener.expect(f"{P}/reply_to").args == (listener.port,)
        sender.send(f"{P}/status")
        assert listener.expect(f"{P}/status").tags == "iis"
        assert sender.recv(0.2) is None
        sender.send(f"{P}/reply_to", 0)  # forget it: back to the source port
        assert sender.expect(f"{P}/reply_to").args == (0,)
        sender.send(f"{P}/ping")
        assert sender.expect(f"{P}/pong").args == ()


def test_daemon_reply_port_and_reply_to_precedence(library_setup, no_leaked_threads):
    backend = library_setup[0]
    with Client(("127.0.0.1", 1)) as listener, Client(("127.0.0.1", 1)) as other:
        with OscServer(backend, port=0, reply_port=listener.port) as srv:
            with Client(srv.address) as sender:
                sender.send(f"{P}/ping", 1)
                assert listener.expect(f"{P}/pong").args == (1,)
                assert sender.recv(0.2) is None
                sender.send(f"{P}/reply_to", other.port)
                other.expect(f"{P}/reply_to")
                sender.send(f"{P}/ping", 2)
                assert other.expect(f"{P}/pong").args == (2,)
                assert listener.recv(0.2) is None


def test_selection_then_similar_without_arguments(client, library_setup):
    sample = str(library_setup[2][4])
    client.send(f"{P}/select", sample)
    assert client.expect(f"{P}/selected").args == (sample,)
    client.send(f"{P}/selection")
    assert client.expect(f"{P}/selected").args == (sample,)
    client.send(f"{P}/similar")
    query, rows = client.results()
    assert query == sample and len(rows) == 7
    client.send(f"{P}/similar", 2)  # ,i count: the selection with a count
    query, rows = client.results()
    assert query == sample and len(rows) == 2
    client.send(f"{P}/select", "")
    assert client.expect(f"{P}/selected").args == ("",)
    client.send(f"{P}/similar")
    assert "no selection" in client.expect(f"{P}/error").args[1]


def test_subscription_cursor_and_slots(server, library_setup):
    samples = library_setup[2]
    with Client(server.address) as ctl, Client(server.address) as sub:
        ctl.send(f"{P}/cursor/get")
        assert "no results yet" in ctl.expect(f"{P}/error").args[1]
        ctl.send(f"{P}/subscribe", sub.port, 4)
        assert ctl.expect(f"{P}/subscribed").args == (sub.port, 4)
        for n in range(1, 5):  # empty labels to start with
            assert sub.expect(f"{P}/slot/{n}").args == ("", 0.0)
        ctl.send(f"{P}/similar", str(samples[0]), 3)
        _, rows = ctl.results()
        _, pushed = sub.results()
        assert pushed == rows
        for n in range(1, 5):
            m = sub.expect(f"{P}/slot/{n}")
            if n <= 3:
                assert m.args[0] == "/".join(rows[n - 1][1].split("/")[-2:])  # folder/name
                assert m.args[1] == pytest.approx(rows[n - 1][2])
            else:
                assert m.args == ("", 0.0)
        assert sub.expect(f"{P}/cursor").args[:2] == (1, rows[0][1])

        ctl.send(f"{P}/cursor/next")
        assert ctl.expect(f"{P}/cursor").args[:2] == (2, rows[1][1])
        assert sub.expect(f"{P}/cursor").args[:2] == (2, rows[1][1])
        ctl.send(f"{P}/cursor/next", 0.0)  # a button release: ignored
        ctl.send(f"{P}/cursor/next", 1.0)
        ctl.send(f"{P}/cursor/next", 1)  # clamped at the last result
        assert ctl.expect(f"{P}/cursor").args[0] == 3
        assert ctl.expect(f"{P}/cursor").args[0] == 3
        ctl.send(f"{P}/cursor/prev")
        assert ctl.expect(f"{P}/cursor").args[0] == 2
        ctl.send(f"{P}/cursor/pick", 1.0)
        assert ctl.expect(f"{P}/cursor").args[0] == 1
        ctl.send(f"{P}/cursor/pick", 9)
        assert "no result at rank 9" in ctl.expect(f"{P}/error").args[1]
        ctl.send(f"{P}/cursor/get")
        assert ctl.expect(f"{P}/cursor").args == (1, rows[0][1], pytest.approx(rows[0][2]))
        assert [m.args[0] for m in sub.drain()] == [3, 3, 2, 1]

        ctl.send(f"{P}/unsubscribe", sub.port)
        assert ctl.expect(f"{P}/unsubscribed").args == (sub.port,)
        ctl.send(f"{P}/cursor/next")
        ctl.expect(f"{P}/cursor")
        assert sub.recv(0.2) is None


def test_subscriber_that_queries_gets_each_message_once(server, library_setup):
    with Client(server.address) as c:
        c.send(f"{P}/subscribe", c.port)
        c.expect(f"{P}/subscribed")
        c.send(f"{P}/similar", str(library_setup[2][3]), 2)
        c.results()
        assert [m.address for m in c.drain()] == [f"{P}/cursor"]


def test_folders_rescan_and_pushes(server, library_setup, tmp_path):
    backend, folder = library_setup[0], library_setup[1]
    from osc_helpers import write_wav

    extra = tmp_path / "extra"
    new = write_wav(extra / "new_tone.wav", "sine", 500)
    with Client(server.address) as c, Client(server.address) as sub:
        c.send(f"{P}/subscribe", sub.port)
        c.expect(f"{P}/subscribed")
        c.send(f"{P}/folders")
        assert c.expect(f"{P}/folders").args == (str(folder),)
        assert c.expect(f"{P}/folder").args == (str(folder), "osc", "online")
        c.send(f"{P}/folder/add", str(extra))
        assert c.expect(f"{P}/folder/added", 30).args == (str(extra),)
        assert sub.expect(f"{P}/indexed", 10).args == (str(new),)
        progress = sub.expect(f"{P}/progress", 10).args
        while progress[2] != "idle":
            progress = sub.expect(f"{P}/progress", 10).args
        assert progress == (len(library_setup[2]) + 1, 0, "idle")
        c.send(f"{P}/folders")
        assert c.expect(f"{P}/folders").args == (str(folder), str(extra))
        assert [c.expect(f"{P}/folder").args[0] for _ in range(2)] == [str(folder), str(extra)]
        c.send(f"{P}/similar", str(new), 1)
        c.results()
        c.send(f"{P}/folder/remove", str(extra))
        assert c.expect(f"{P}/folder/removed", 30).args == (str(extra),)
        assert sub.expect(f"{P}/removed", 10, skip=(f"{P}/results/begin", f"{P}/result",
                                                    f"{P}/results/end", f"{P}/cursor")
                          ).args == (str(new),)
        c.send(f"{P}/rescan")
        assert c.expect(f"{P}/rescan", 30).args == (1,)
        assert sub.expect(f"{P}/progress", 10, skip=(
            f"{P}/results/begin", f"{P}/result", f"{P}/results/end", f"{P}/cursor")
        ).args[2] == "idle"
    assert backend.folders() == [str(folder)]


def test_python_osc_client(server, library_setup):
    from pythonosc.udp_client import SimpleUDPClient

    host, port = server.address
    client = SimpleUDPClient(host, port)
    try:
        client.send_message(f"{P}/similar", [str(library_setup[2][6]), 2])
        got = []
        for msg in client.get_messages(5.0):
            got.append((msg.address, msg.params))
            if msg.address == f"{P}/results/end":
                break
        assert [a for a, _ in got] == [f"{P}/results/begin", f"{P}/result", f"{P}/result",
                                       f"{P}/results/end"]
        assert got[1][1][0] == 1 and got[2][1][0] == 2
        client.send_message(f"{P}/status", [])
        msg = next(client.get_messages(5.0))
        assert msg.address == f"{P}/status" and msg.params[2] == "idle"
    finally:
        client.close()


class _SlowOutside:
    """A backend whose queries for files outside its folders block until released."""

    def __init__(self, backend):
        self._b = backend
        self.release = threading.Event()
        self.entered = threading.Event()

    def __getattr__(self, name):
        return getattr(self._b, name)

    def similar(self, path, k, **kw):
        if not any(path.startswith(f + os.sep) for f in self._b.folders()):
            self.entered.set()
            assert self.release.wait(10)
        return self._b.similar(path, k, **kw)


def test_indexed_queries_do_not_wait_for_embedding(library_setup, no_leaked_threads):
    backend = _SlowOutside(library_setup[0])
    with OscServer(backend, port=0) as srv, Client(srv.address) as c:
        try:
            c.send(f"{P}/similar", str(library_setup[3]), 2)  # outside: needs the encoder
            assert backend.entered.wait(10)
            c.send(f"{P}/similar", str(library_setup[2][0]), 2)  # indexed: the fast lane
            query, _ = c.results(5)
            assert query == str(library_setup[2][0])
            c.send(f"{P}/status")
            c.expect(f"{P}/status")
        finally:
            backend.release.set()
        query, _ = c.results()
        assert query == str(library_setup[3])
