"""File names that are not valid UTF-8 (bytes such as ``\\xff\\xfe``, common on drives written by
other systems) are indexed, stored, searched, printed and sent over OSC byte for byte.

Real files with such names in tmp folders (skipped where the file system refuses the name), the
real store, the real ``soundalike`` commands, and a real daemon (``python -m bridge serve``)
talked to over UDP on 127.0.0.1 with raw datagrams and with liblo's ``oscsend``/``oscdump``.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bridge.fileuri import BadURI, from_uri, to_uri
from bridge.osc_wire import decode, encode
from engine.index.store import FileStat, Store
from tests.audiogen import kick, noise_burst, tone, write, write_library
from tests.waiting import wait_for

P = "/soundalike"
BAD = b"bad\xff\xfe name.wav"        # not UTF-8 at all
LATIN = b"dr\xe9ms"                  # a folder named in Latin-1 ("drems" with an e acute)
JUNK = b"junk\xfe.wav"               # not audio, and not a UTF-8 name


def put(folder: Path, name: bytes, y: np.ndarray) -> str:
    """Write ``y`` as a WAV at ``folder/name`` (``name``: bytes); returns the path as Python
    holds it (``os.fsdecode``: surrogate escapes).  Skips where the file system refuses it."""
    tmp = write(folder / "._staging.wav", y)
    target = os.path.join(os.fsencode(folder), name)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(tmp, target)
    except OSError as exc:  # e.g. APFS refuses names that are not UTF-8 (EILSEQ)
        pytest.skip(f"the file system refuses a name that is not UTF-8: {exc}")
    return os.fsdecode(target)


def bad_library(root: Path) -> tuple[str, list[str], str]:
    """(the library folder, its audio files, the not-audio file): 12 plain files, one with a
    name that is not UTF-8, two in a folder whose name is not, one with an accented (UTF-8)
    name; the library folder's own name is not UTF-8 either."""
    stage = root / "stage-lib"
    write_library(stage)
    put(stage, BAD, tone(523))
    put(stage, LATIN + b"/kick \xe9.wav", kick(70))
    put(stage, LATIN + b"/hat\x80.wav", noise_burst(11))
    write(stage / "é ok.wav", tone(600))
    (stage / os.fsdecode(JUNK)).write_bytes(b"this is not audio" * 20)
    lib = os.path.join(os.fsencode(root), b"samples\xff")
    os.rename(stage, lib)
    files = sorted(os.fsdecode(os.path.join(d, f)) for d, _, names in os.walk(lib)
                   for f in names if f != JUNK)
    assert len(files) == 16
    return os.fsdecode(lib), files, os.fsdecode(os.path.join(lib, JUNK))


# -- the store ------------------------------------------------------------------------------
def test_store_keeps_names_byte_for_byte(tmp_path):
    store = Store(tmp_path / "index.sqlite")
    folder = os.fsdecode(b"/lib/dr\xe9ms")
    bad = os.fsdecode(b"/lib/dr\xe9ms/bad\xff\xfe.wav")
    other = os.fsdecode(b"/lib/dr\xe9ms 2/x\x80.wav")  # a sibling whose name starts the same
    plain = "/lib/ok/é.wav"
    store.put_root(folder, "index")
    ids = store.put_embeddings([(FileStat(p, 1, 2, f"fp{i}"), np.ones(4, np.float32))
                                for i, p in enumerate((bad, other, plain))], "m")
    why = f"could not decode (ValueError: {bad})"  # a reason that quotes the name
    store.put_failures([(FileStat(bad + "2", 3, 4, "fq"), why)])

    assert store.roots() == [(folder, "index")]
    assert store.get(bad).id == ids[0] and store.get(bad).path == bad
    assert sorted(e.path for e in store.entries(under=folder)) == [bad, bad + "2"]
    assert store.failures() == [(bad + "2", why)]
    assert store.embedding(bad, "m") is not None
    assert [p for _, paths, _ in store.iter_embeddings("m", under=folder) for p in paths] == [bad]
    assert store.load_embeddings("m").paths == [bad, other, plain]
    # stored as the name's bytes, in a TEXT column, exactly as a UTF-8 name would be
    raw = sqlite3.connect(tmp_path / "index.sqlite")
    raw.text_factory = bytes
    assert raw.execute("SELECT path, typeof(path) FROM files WHERE id = ?", (ids[0],)
                       ).fetchone() == (os.fsencode(bad), b"text")
    assert raw.execute("SELECT path FROM files WHERE id = ?", (ids[2],)
                       ).fetchone() == (plain.encode(),)
    raw.close()

    new_folder = os.fsdecode(b"/lib/t\xfeef")
    moved = store.move(folder, new_folder)
    assert sorted(new for _, _, new in moved) == sorted(
        os.fsdecode(os.fsencode(p).replace(b"/lib/dr\xe9ms", b"/lib/t\xfeef"))
        for p in (bad, bad + "2"))
    assert store.get(bad) is None
    assert len(store.set_offline(new_folder, True)) == 2
    assert store.counts()["offline"] == 2
    assert len(store.remove_under(new_folder)) == 2
    assert store.remove([other]) == [ids[1]]
    assert store.remove_outside([os.fsdecode(b"/lib/ok")]) == []
    assert [e.path for e in store.entries()] == [plain]
    store.close()


def test_a_store_written_before_reads_the_same(tmp_path):
    """Valid UTF-8 is stored byte for byte as before: an index written by plain sqlite3 (as
    earlier versions did) is read, searched by folder and changed as it was."""
    Store(tmp_path / "index.sqlite").close()  # the schema
    db = sqlite3.connect(tmp_path / "index.sqlite")
    for i, p in enumerate(["/lib/été/a.wav", "/lib/étéx/b.wav", "/lib/e/c.wav"]):
        db.execute("INSERT INTO files (path, size, mtime_ns, fingerprint, status, model_id, "
                   "embedding, offline, updated_at) VALUES (?, 1, 1, ?, 'ok', 'm', ?, 0, 0)",
                   (p, f"f{i}", np.ones(4, np.float32).tobytes()))
    db.execute("INSERT INTO roots VALUES ('/lib/été', 'index', 0)")
    db.commit()
    db.close()
    store = Store(tmp_path / "index.sqlite")
    assert store.roots() == [("/lib/été", "index")]
    assert [e.path for e in store.entries(under="/lib/été")] == ["/lib/été/a.wav"]
    assert store.get("/lib/étéx/b.wav").fingerprint == "f1"
    assert store.move("/lib/été/a.wav", "/lib/ü.wav")[0][2] == "/lib/ü.wav"
    assert store.get("/lib/ü.wav") is not None
    # a folder whose name is one byte of a two-byte UTF-8 character holds nothing of é's
    assert store.entries(under=os.fsdecode(b"/lib/\xc3")) == []
    store.close()


def test_one_unstorable_file_does_not_lose_its_batch(tmp_path):
    """Each file of a batch the store cannot take as a whole is stored on its own: the one it
    cannot take (here a size beyond SQLite's 64 bits, from a bogus stat) is reported failed,
    the others are stored and searchable."""
    from engine.catalog import Catalog
    from engine.pipeline import Outcome

    folder = tmp_path / "lib"
    paths = [str(write(folder / f"t{i}.wav", tone(300 + 50 * i))) for i in range(3)]
    paths[1] = put(folder, BAD, tone(700))
    (tmp_path / "data").mkdir()
    catalog = Catalog(tmp_path / "data", "m", approximate=False)
    try:
        catalog.add_root(str(folder), "index")
        vec = np.ones(8, np.float32) / np.sqrt(8)
        outcomes = [Outcome(FileStat(p, 10, 1, f"f{i}"), vector=vec) for i, p in enumerate(paths)]
        poison = Outcome(FileStat(str(write(folder / "huge.wav", tone(900))), 2 ** 64, 1, "h"),
                         vector=vec)
        done, failed = catalog.record([outcomes[0], poison, outcomes[1], outcomes[2]])
        assert sorted(done) == sorted(paths)
        assert [p for p, _ in failed] == [poison.stat.path]
        assert "could not be stored" in failed[0][1]
        assert sorted(catalog.indexed_paths()) == sorted(paths)
        assert catalog.get(poison.stat.path) is None  # no row: the next scan tries it again
    finally:
        catalog.close()


def test_an_unexpected_error_in_a_batch_loses_only_its_file(tmp_path):
    """A bug nobody expected (injected: embedding any batch holding one file raises) costs
    that file only: its batch-mates are embedded alone, the worker goes on."""
    from engine import Library
    from engine.indexer import Indexer
    from engine.model.mfcc import MfccEncoder

    folder = tmp_path / "lib"
    good = [str(write(folder / f"t{i}.wav", tone(200 + 60 * i))) for i in range(5)]
    poison = put(folder, BAD, tone(800))
    lib = Library(tmp_path / "data", encoder=MfccEncoder())
    real = lib.embed_and_record

    def embed_and_record(paths, **kw):
        if poison in paths:
            raise RuntimeError("a bug nobody expected")
        return real(paths, **kw)

    lib.embed_and_record = embed_and_record
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        indexer.add_root(str(folder))
        assert indexer.wait_idle(60)
        assert sorted(lib.indexed_paths()) == sorted(good)
        later = str(write(folder / "later.wav", kick(60)))
        indexer.file_changed(later, immediate=True)
        assert indexer.wait_idle(60)
        assert sorted(lib.indexed_paths()) == sorted(good + [later])
    finally:
        indexer.stop()
        lib.close()


# -- file URIs ------------------------------------------------------------------------------
def test_file_uris_are_ascii_and_lossless():
    rng = np.random.default_rng(7)
    names = [b"kick 01.wav", b"bad\xff\xfe.wav", "été ü#?%.wav".encode(), b"a;b=c@d:e+f.wav",
             *(bytes(rng.integers(1, 256, 12).tolist()).replace(b"/", b"_") for _ in range(200))]
    for name in names:
        path = os.fsdecode(b"/x/" + name)
        uri = to_uri(path)
        assert uri.startswith("file:///x/") and uri.isascii()
        assert from_uri(uri) == path
    assert from_uri("file://localhost/x/a%20b.wav") == "/x/a b.wav"
    assert from_uri("file:/x/%FF.wav") == os.fsdecode(b"/x/\xff.wav")
    for bad in ("file://elsewhere/x.wav", "file:x.wav", "file:///x.wav#t=1", "file:///a%00b"):
        with pytest.raises(BadURI):
            from_uri(bad)


# -- the command line -----------------------------------------------------------------------
def run(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, timeout=300)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode("utf-8", "replace")
    if check:
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    # standard output and error are UTF-8 whatever the names held
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


@pytest.fixture
def strict_env(cli_env):
    # a terminal's usual setting: stdout that refuses what is not UTF-8 (so a name's stray
    # bytes reaching it unescaped would end the command with UnicodeEncodeError)
    return dict(cli_env, PYTHONIOENCODING="utf-8:strict")


def test_index_status_similar_with_names_that_are_not_utf8(strict_env, tmp_path):
    lib, files, junk = bad_library(tmp_path)
    _, out, err = run(strict_env, "index", os.fsencode(lib))
    assert out.strip() == f"indexed {len(files)}, skipped 0 unchanged, failed 1, removed 0"
    assert f"failed: {tmp_path}/samples\\xff/junk\\xfe.wav: " in err

    _, out, _ = run(strict_env, "status")
    assert f"folder   {tmp_path}/samples\\xff  (index)" in out
    assert f"failed: {tmp_path}/samples\\xff/junk\\xfe.wav: not " in out
    info = json.loads(run(strict_env, "status", "--json")[1])
    assert info["indexed"] == len(files)
    assert [f["path"] for f in info["folders"]] == [lib]
    assert [f["path"] for f in info["failures"]] == [junk]  # exact, as os.fsdecode has it

    # every file is in the index: the other files of one query are all the rest
    bad = os.fsdecode(os.path.join(os.fsencode(lib), BAD))
    _, out, _ = run(strict_env, "similar", "--local", "--json", "-n", "100", os.fsencode(bad))
    assert "\\udcff\\udcfe" in out  # the JSON escape of each stray byte
    answer = json.loads(out)
    assert answer["query"] == bad
    assert sorted(r["path"] for r in answer["results"]) == sorted(set(files) - {bad})
    assert all(os.path.exists(os.fsencode(r["path"])) for r in answer["results"])
    out_file = tmp_path / "answer.json"
    anchor = next(p for p in files if p.endswith("tone_0.wav"))
    run(strict_env, "similar", "--local", "-n", "100", "--output", str(out_file),
        os.fsencode(anchor))
    assert bad in {r["path"] for r in json.loads(out_file.read_text(encoding="utf-8"))["results"]}
    _, out, _ = run(strict_env, "similar", "--local", "-n", "3", os.fsencode(bad))
    assert out.splitlines()[0] == f"{tmp_path}/samples\\xff/bad\\xff\\xfe name.wav"

    # a second pass finds everything unchanged (the stored names match the disk's)
    _, out, _ = run(strict_env, "index", os.fsencode(lib))
    assert out.strip() == f"indexed 0, skipped {len(files)} unchanged, failed 1, removed 0"


# -- the daemon -----------------------------------------------------------------------------
class Raw:
    """A UDP socket on 127.0.0.1 that sends OSC and keeps the reply datagrams as bytes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", 0))

    def send(self, address: str, *args) -> None:
        self.sock.sendto(encode(address, *args), ("127.0.0.1", self.port))

    def until(self, address: str, timeout: float = 30.0) -> list[bytes]:
        """The datagrams received up to and including the first with ``address``."""
        self.sock.settimeout(timeout)
        got = []
        while True:
            data = self.sock.recv(65_536)
            got.append(data)
            if data.startswith(address.encode() + b"\x00"):
                return got

    def query(self, path: str, count: int = 100) -> tuple[list[bytes], list]:
        """(the reply datagrams, their decoded messages) of one query."""
        self.send(f"{P}/similar", path, count)
        got = self.until(f"{P}/results/end")
        return got, [m for d in got for m in decode(d)]

    def close(self) -> None:
        self.sock.close()


def result_paths(msgs) -> set[bytes]:
    return {os.fsencode(m.args[1]) for m in msgs if m.address == f"{P}/result"}


class Dump:
    """liblo's ``oscdump`` listening on a port; its output kept as raw bytes."""

    def __init__(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.lines: list[bytes] = []
        self._cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, name="oscdump-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def seen(self, needle: bytes, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(needle in x for x in self.lines), timeout)

    def line(self, needle: bytes, timeout: float = 30.0) -> bytes:
        with self._cond:
            assert self._cond.wait_for(lambda: any(needle in x for x in self.lines), timeout), \
                f"oscdump saw no {needle!r}: {self.lines[-5:]}"
            return next(x for x in self.lines if needle in x)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.reader.join(5)
        self.proc.stdout.close()


def test_daemon_indexes_answers_and_watches_names_that_are_not_utf8(daemon_factory, tmp_path):
    lib, files, junk = bad_library(tmp_path)
    daemon = daemon_factory([lib]).start()
    raw = Raw(daemon.port)
    try:
        daemon.wait_idle(indexed=len(files), timeout=120)
        bad = os.fsdecode(os.path.join(os.fsencode(lib), BAD))
        anchor = next(p for p in files if p.endswith("tone_0.wav"))

        # a query for it, sent as its bytes, is answered with them, byte for byte
        got, msgs = raw.query(bad)
        assert got[0] == encode(f"{P}/results/begin", bad, len(files) - 1)
        assert os.fsencode(bad) + b"\x00" in got[0]
        assert result_paths(msgs) == {os.fsencode(p) for p in files} - {os.fsencode(bad)}
        # and it is among the results of another file, as its bytes
        got, msgs = raw.query(anchor)
        assert any(os.fsencode(bad) + b"\x00" in d for d in got if d.startswith(
            f"{P}/result\x00".encode()))
        assert result_paths(msgs) == {os.fsencode(p) for p in files} - {os.fsencode(anchor)}

        # a strict UTF-8 client asks for file:// URIs, and may query with one
        raw.send(f"{P}/paths", "uri")
        assert decode(raw.until(f"{P}/paths")[-1])[0].args == ("uri",)
        got, msgs = raw.query(to_uri(bad))
        from pythonosc.osc_message import OscMessage  # python-osc decodes strictly

        parsed = [OscMessage(d) for d in got if not d.startswith(b"#")]
        assert parsed[0].params[0] == to_uri(bad)
        uris = [m.params[1] for m in parsed if m.address == f"{P}/result"]
        assert all(u.startswith("file:///") and u.isascii() for u in uris)
        assert {os.fsencode(from_uri(u)) for u in uris} == \
            {os.fsencode(p) for p in files} - {os.fsencode(bad)}
        raw.send(f"{P}/paths", "bytes")
        assert decode(raw.until(f"{P}/paths")[-1])[0].args == ("bytes",)

        # liblo: oscsend sends the name's bytes, oscdump (a subscriber) prints them as they are
        if shutil.which("oscsend") and shutil.which("oscdump"):
            dump = Dump()
            try:
                raw.send(f"{P}/subscribe", dump.port)
                raw.until(f"{P}/subscribed")
                for _ in range(3):  # UDP: a datagram may be lost on a loaded machine; resend
                    subprocess.run(["oscsend", "127.0.0.1", str(daemon.port), f"{P}/similar",
                                    "si", os.fsencode(bad), "100"], check=True, timeout=10)
                    if dump.seen(b"/soundalike/results/begin", timeout=10.0):
                        break
                line = dump.line(b"/soundalike/results/begin")
                assert b' si "' + os.fsencode(bad) + b'" ' in line
                dump.line(b'"' + os.fsencode(anchor) + b'"')
                latin = next(os.fsencode(p) for p in files if LATIN in os.fsencode(p))
                assert b' isf ' in dump.line(b'"' + latin + b'"')
            finally:
                raw.send(f"{P}/unsubscribe", dump.port)
                dump.close()

        # the watcher: three files arrive at once, one with a name that is not UTF-8
        stage = tmp_path / "stage"
        new = [write(stage / f"n{i}.wav", tone(350 + 40 * i)) for i in range(3)]
        targets = [os.path.join(os.fsencode(lib), b"new\xfa\xfb.wav"),
                   os.path.join(os.fsencode(lib), b"n1.wav"),
                   os.path.join(os.fsencode(lib), LATIN + b"/n2\xa0.wav")]
        for src, dst in zip(new, targets):
            shutil.copyfile(src, dst)
        daemon.wait_idle(indexed=len(files) + 3, timeout=120)
        _, msgs = raw.query(anchor)
        assert set(targets) <= result_paths(msgs)

        # renamed, and deleted: the index follows
        renamed = os.path.join(os.fsencode(lib), b"ren\xfd.wav")
        os.rename(targets[0], renamed)

        def follows():
            paths = result_paths(raw.query(anchor)[1])
            return renamed in paths and targets[0] not in paths
        wait_for(follows, timeout=60, interval=0.2, message="the rename to reach the index")
        os.remove(renamed)
        daemon.wait_idle(indexed=len(files) + 2, timeout=60)
        assert renamed not in result_paths(raw.query(anchor)[1])

        # `soundalike index` of another such folder while the daemon runs goes through it
        more = os.path.join(os.fsencode(tmp_path), b"more\xf0")
        put(write(tmp_path / "more" / "m.wav", kick(48)).parent, b"m\xf1.wav", tone(260))
        os.rename(tmp_path / "more", more)
        _, out, _ = run(dict(daemon.env, PYTHONIOENCODING="utf-8:strict"), "index", more)
        assert out.strip() == "indexed 2, skipped 0 unchanged, failed 0, removed 0"
        daemon.wait_idle(indexed=len(files) + 4, timeout=60)
        log = daemon.log()
        assert "Traceback" not in log
        assert "junk\\xfe.wav" in log  # the failure's log line names it, escaped
    finally:
        raw.close()
