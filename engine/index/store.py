"""The persisted index: one SQLite database (WAL, every write one transaction).

One row per watched folder (``roots``: its path and where it was added from) and one row per
file: path, size, mtime, a content fingerprint, the model that embedded it and the
L2-normalised embedding (float32 bytes) or, for a file that could not be read, the reason.  Row
ids are stable across renames and moves, so they double as the search index's keys.

Paths are the operating system's bytes.  A name that is not valid UTF-8 (a drive written by
another system) is, in Python, a ``str`` with surrogate escapes (``os.fsdecode``), which
Python's sqlite3 refuses to bind.  So every path (and every text that may quote one, such as a
failure's reason) is bound as its bytes through ``CAST(? AS TEXT)`` (:func:`_t`), and read back
by a ``text_factory`` that decodes with ``surrogateescape``: the column stays TEXT, valid UTF-8
is stored byte for byte as before, and a name that is not comes back exactly as it was.  SQLite
does not check UTF-8 and compares TEXT with memcmp (BINARY collation), so equality, UNIQUE and
the folder ranges (:data:`_UNDER`, through the path index) work on the bytes.

``shadow`` holds embeddings by *other* models, keyed by file row id and model, each with the
content (size and fingerprint) it was computed from: a model switch writes the new model's
there while the files' own embeddings keep answering, then ``adopt`` swaps them in one
transaction (the replaced ones go to ``shadow``, so switching back needs no re-embedding).
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import EngineError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    model_id    TEXT,
    embedding   BLOB,
    error       TEXT,
    offline     INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_fingerprint ON files (fingerprint, size);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS roots (
    path        TEXT PRIMARY KEY,
    origin      TEXT NOT NULL,
    added_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shadow (
    id          INTEGER NOT NULL,
    model_id    TEXT NOT NULL,
    size        INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    embedding   BLOB NOT NULL,
    PRIMARY KEY (id, model_id)
);
"""


def _t(text: str) -> bytes:
    """A path (or any text that may hold one) as the bytes to bind through ``CAST(? AS TEXT)``:
    its UTF-8, the undecodable bytes of a file name (surrogate escapes) as they were."""
    return text.encode("utf-8", "surrogateescape")


def _text(raw: bytes) -> str:
    """The connection's ``text_factory``: TEXT values back to ``str``, losslessly."""
    return raw.decode("utf-8", "surrogateescape")


#: ``path`` is inside a folder: a range of the path index (see :func:`_prefix`); TEXT compares
#: as bytes (the BINARY collation), so the range holds whatever bytes the names hold
_UNDER = "path >= CAST(? AS TEXT) AND path < CAST(? AS TEXT)"


def _prefix(folder: str) -> tuple[bytes, bytes]:
    """The parameters of :data:`_UNDER` for ``folder``: the paths under ``a/b`` sort from the
    bytes ``a/b/`` to just before ``a/b0`` ("0" is the byte after the separator)."""
    lower = _t(folder.rstrip(os.sep) + os.sep)
    return lower, lower[:-1] + bytes([lower[-1] + 1])


def _uri(path: Path, query: str) -> str:
    """An SQLite URI for ``path`` (percent-encoded: "?", "#", "%" and any bytes in a name)."""
    return f"{Path(os.path.abspath(path)).as_uri()}?{query}"


def _connect(target: str, **kwargs) -> sqlite3.Connection:
    db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, **kwargs)
    db.text_factory = _text
    return db


class StoreError(EngineError):
    """The index database cannot be opened or written (read-only, disk full, corrupt)."""


@dataclass(frozen=True)
class FileStat:
    path: str
    size: int
    mtime_ns: int
    fingerprint: str


@dataclass(frozen=True)
class Loaded:
    """The searchable rows of one model (``Store.load_embeddings``): ``ids`` (int64),
    ``paths`` and ``vectors`` (one float32 row each), the ``damaged`` rows left out and the
    store's generation when they were read."""
    ids: np.ndarray
    paths: list[str]
    vectors: np.ndarray | None  # None: not read (``need_vectors`` said so)
    damaged: list[tuple[int, str]]
    generation: int


@dataclass(frozen=True)
class Applied:
    """What ``Store.apply_changes`` did: per change the rows removed ``(id, path)`` or moved
    ``(id, old, new)``, the ids of rows that moves replaced, and ``(fingerprint, size,
    embedding bytes)`` of the last removed rows embedded by the current model."""
    results: list[list[tuple]]
    replaced: list[int]
    removed_embeddings: list[tuple[str, int, bytes]]


@dataclass(frozen=True)
class Entry:
    id: int
    path: str
    size: int
    mtime_ns: int
    fingerprint: str
    status: str
    model_id: str | None
    error: str | None
    offline: bool


class Store:
    """Thread-safe access to the index database (one connection guarded by a lock)."""

    def __init__(self, path: str | os.PathLike, *, read_only: bool = False) -> None:
        """``read_only``: never write (another process owns the index): reads see its
        committed state; a missing database reads as empty.

        An existing index that cannot be opened for writing (a read-only folder, file or
        file system, a full disk) is opened for reading instead: ``read_only`` is True and
        ``unwritable`` says why, until ``reopen_writable`` succeeds."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.read_only = read_only
        #: why an index this process means to write cannot be written now (None: it can)
        self.unwritable: str | None = None
        #: a second connection for ``get`` (the query path): WAL lets it read the last
        #: committed state while a long write transaction (a model switch's swap) runs
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        if read_only:
            self._db = self._open_read_only()
            return
        try:
            self._db = self._open()
            try:
                self._reader = _connect(_uri(self.path, "mode=ro"), uri=True, timeout=30.0)
            except sqlite3.Error:  # reads go through the one connection
                self._reader = None
        except sqlite3.Error as exc:
            reason = _open_failure(exc, self.path)
            if self.path.exists() and "locked" not in str(exc):
                # reading still works; writing says why, and is tried again later
                db = self._open_for_reading()
                if db is not None:
                    self._db, self.read_only, self.unwritable = db, True, reason
                    return
            raise StoreError(f"cannot open the index at {self.path}: {reason}") from None

    def _open_for_reading(self) -> sqlite3.Connection | None:
        """A read-only connection to the existing index: ``mode=ro`` (sees a write-ahead log
        left behind), else ``immutable`` (where not even the log's index can be made)."""
        for query in ("mode=ro", "immutable=1"):
            try:
                db = _connect(_uri(self.path, query), uri=True)
            except sqlite3.Error:
                continue
            try:
                db.execute("SELECT 1 FROM files LIMIT 1")
                db.execute("SELECT 1 FROM roots LIMIT 1")
                return db
            except sqlite3.Error:
                db.close()
        return None

    def reopen_writable(self) -> str | None:
        """Try to write the index again (see ``unwritable``): None once a real write went
        through (the connection is then a writing one), else why not."""
        if self.unwritable is None:
            return None if not self.read_only else "the index is opened read-only"
        with self._lock:
            try:
                db = self._open()
            except sqlite3.Error as exc:
                self.unwritable = _open_failure(exc, self.path)
                return self.unwritable
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO meta VALUES ('written_at', ?) ON CONFLICT(key) "
                           "DO UPDATE SET value = excluded.value", (str(time.time()),))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                db.close()
                self.unwritable = _open_failure(exc, self.path)
                return self.unwritable
            old, self._db = self._db, db
            self.read_only, self.unwritable = False, None
            try:
                old.close()
            except sqlite3.Error:
                pass
        return None

    def write_problem(self) -> str | None:
        """Why the index cannot be written now (None: a real write just went through)."""
        if self.read_only:
            return self.reopen_writable()
        try:
            self.set_meta("written_at", str(time.time()))
        except StoreError as exc:
            return str(exc)
        return None

    def _open_read_only(self) -> sqlite3.Connection:
        if self.path.exists():
            db = self._open_for_reading()
            if db is not None:
                db.execute("PRAGMA busy_timeout = 30000")
                return db
        # missing, or written by an older version (no roots table): reads as empty
        db = _connect(":memory:")
        for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
            db.execute(stmt)
        return db

    def _open(self) -> sqlite3.Connection:
        db = _connect(str(self.path), timeout=30.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                db.execute(stmt)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    # -- plumbing -------------------------------------------------------------------------
    class _Tx:
        def __init__(self, store: "Store") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                if exc_type is None:
                    self.store._db.execute("COMMIT")
                else:
                    self.store._db.execute("ROLLBACK")
            finally:
                self.store._lock.release()

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self)

    def _write(self, fn, *args):
        if self.read_only:
            raise StoreError(f"the index at {self.path} is read-only "
                             f"({self.unwritable or 'another process owns it'}): "
                             "nothing was changed")
        try:
            with self._tx() as db:
                return fn(db, *args)
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, self.path)) from None

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, self.path)) from None

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
        with self._reader_lock:
            if self._reader is not None:
                try:
                    self._reader.close()
                except sqlite3.Error:
                    pass

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else default

    def delete_meta(self, key: str) -> None:
        self._write(lambda db: db.execute("DELETE FROM meta WHERE key = ?", (key,)))

    def set_meta(self, key: str, value: str) -> None:
        self._write(lambda db: db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value)))

    # -- reads ----------------------------------------------------------------------------
    _ENTRY_COLS = "id, path, size, mtime_ns, fingerprint, status, model_id, error, offline"

    @staticmethod
    def _entry(row: tuple) -> Entry:
        return Entry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                     bool(row[8]))

    def get(self, path: str) -> Entry | None:
        sql = f"SELECT {self._ENTRY_COLS} FROM files WHERE path = CAST(? AS TEXT)"
        if self._reader is None:
            rows = self._read(sql, (_t(path),))
        else:
            try:
                with self._reader_lock:
                    rows = self._reader.execute(sql, (_t(path),)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc, self.path)) from None
        return self._entry(rows[0]) if rows else None

    def entries(self, *, under: str | None = None) -> list[Entry]:
        if under is None:
            rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files")
        else:
            rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files WHERE {_UNDER}",
                              _prefix(under))
        return [self._entry(r) for r in rows]

    def find_by_fingerprint(self, fingerprint: str, size: int) -> list[Entry]:
        rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files WHERE fingerprint = ? AND size = ?",
                          (fingerprint, size))
        return [self._entry(r) for r in rows]

    def embedding(self, path: str, model_id: str) -> np.ndarray | None:
        rows = self._read("SELECT embedding FROM files WHERE path = CAST(? AS TEXT) AND "
                          "model_id = ? AND status = 'ok'", (_t(path), model_id))
        return np.frombuffer(rows[0][0], dtype=np.float32).copy() if rows else None

    def iter_embeddings(self, model_id: str, *, under: str | None = None,
                        chunk: int = 50_000) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """(ids, paths, vectors) in chunks, for online rows embedded by ``model_id`` (only
        those under the folder ``under`` if given)."""
        last = -1
        where, prefix = (_UNDER, _prefix(under)) if under is not None else ("1", ())
        while True:
            rows = self._read("SELECT id, path, embedding FROM files WHERE model_id = ? AND "
                              f"status = 'ok' AND offline = 0 AND id > ? AND {where} "
                              "ORDER BY id LIMIT ?", (model_id, last, *prefix, chunk))
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
            yield ids, [r[1] for r in rows], vecs
            last = int(ids[-1])

    def load_embeddings(self, model_id: str, *,
                        need_vectors: Callable[[np.ndarray, list[str], int], bool] | None = None,
                        chunk: int = 10_000) -> "Loaded":
        """Every online row embedded by ``model_id``, the vectors as one float32 matrix.

        Rows whose embedding is missing (NULL) or of another length than the others' are left
        out and listed in ``damaged`` as ``(id, path)`` (see ``forget_damaged``).  One read
        transaction (one snapshot): first the ids, paths and blob lengths, then, unless
        ``need_vectors(ids, paths, generation)`` says False (a saved search index matches), the blobs,
        read into one buffer a chunk at a time."""
        filt = "FROM files WHERE model_id = ? AND status = 'ok' AND offline = 0"
        try:
            with self._lock:
                db = self._db
                db.execute("BEGIN")
                try:
                    return self._load(db, filt, model_id, need_vectors, chunk)
                finally:
                    db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, self.path)) from None

    def _load(self, db, filt: str, model_id: str, need_vectors, chunk: int) -> "Loaded":
        row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(row[0]) if row else 0
        rows = db.execute(f"SELECT id, path, length(embedding) {filt} ORDER BY id",
                          (model_id,)).fetchall()
        if not rows:
            return Loaded(np.empty(0, dtype=np.int64), [], np.empty((0, 0), np.float32), [],
                          generation)
        ids_, paths, lengths_ = zip(*rows)
        del rows
        ids = np.asarray(ids_, dtype=np.int64)
        lengths = np.fromiter((-1 if n is None else n for n in lengths_), dtype=np.int64,
                              count=len(ids))
        width, good = _usual_width(lengths)
        damaged: list[tuple[int, str]] = []
        paths = list(paths)
        if not good.all():
            damaged = [(int(ids[i]), paths[i]) for i in np.flatnonzero(~good).tolist()]
            paths = [paths[i] for i in np.flatnonzero(good).tolist()]
            ids = ids[good]
        dim = width // 4
        if not len(ids):
            return Loaded(ids, paths, np.empty((0, dim), np.float32), damaged, generation)
        if need_vectors is not None and not need_vectors(ids, paths, generation):
            return Loaded(ids, paths, None, damaged, generation)
        # a bytearray: the matrix is writable, so the search index can take it without a copy
        buf = bytearray()
        cur = db.execute(f"SELECT embedding {filt} ORDER BY id", (model_id,))
        while True:
            blobs = cur.fetchmany(chunk)
            if not blobs:
                break
            buf += b"".join(b for (b,) in blobs if b is not None and len(b) == width)
        matrix = np.frombuffer(buf, dtype=np.float32) if buf else np.empty(0, np.float32)
        if matrix.size != len(ids) * dim:  # cannot happen inside one snapshot
            raise StoreError(f"the index at {self.path} changed while it was read")
        return Loaded(ids, paths, matrix.reshape(len(ids), dim), damaged, generation)

    def forget_damaged(self, ids: Iterable[int]) -> None:
        """Drop the unreadable embeddings of rows (see ``load_embeddings``): the rows stay,
        with no model, so the next scan embeds their files again."""
        ids = [(int(i),) for i in ids]
        if ids:
            self._write(lambda db: db.executemany(
                "UPDATE files SET model_id = NULL, embedding = NULL WHERE id = ? "
                "AND status = 'ok'", ids))

    def generation(self) -> int:
        """A number that changes with every write that changes the searchable vectors."""
        return int(self.get_meta("generation", "0"))

    def counts(self, model_id: str | None = None) -> dict[str, int]:
        rows = self._read(
            "SELECT "
            " SUM(status = 'ok' AND offline = 0 AND (? IS NULL OR model_id = ?)),"
            " SUM(status = 'failed' AND offline = 0),"
            " SUM(offline = 1),"
            " SUM(status = 'ok' AND offline = 0 AND ? IS NOT NULL AND model_id IS NOT ?),"
            " COUNT(*) FROM files", (model_id, model_id, model_id, model_id))
        ok, failed, offline, stale, total = (int(x or 0) for x in rows[0])
        return {"indexed": ok, "failed": failed, "offline": offline, "stale": stale,
                "total": total}

    def failures(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._read(
            "SELECT path, error FROM files WHERE status = 'failed' ORDER BY path")]

    # -- writes (each call one transaction) -------------------------------------------------
    def put_embeddings(self, items: Iterable[tuple[FileStat, np.ndarray]],
                       model_id: str) -> list[int]:
        """Insert or replace embedded files; returns their row ids (stable for a known path)."""
        now = time.time()

        def go(db):
            _bump(db)
            ids = []
            for stat, vec in items:
                blob = np.ascontiguousarray(vec, dtype=np.float32).tobytes()
                row = db.execute(
                    "INSERT INTO files (path, size, mtime_ns, fingerprint, status, model_id,"
                    " embedding, error, offline, updated_at) VALUES (CAST(? AS TEXT),?,?,?, 'ok',"
                    " ?,?, NULL, 0, ?) ON CONFLICT(path) DO UPDATE SET size=excluded.size,"
                    " mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint,"
                    " status='ok', model_id=excluded.model_id, embedding=excluded.embedding,"
                    " error=NULL, offline=0, updated_at=excluded.updated_at RETURNING id",
                    (_t(stat.path), stat.size, stat.mtime_ns, stat.fingerprint, model_id, blob,
                     now)).fetchone()
                ids.append(int(row[0]))
            return ids

        return self._write(go)

    def put_failures(self, items: Iterable[tuple[FileStat, str]]) -> None:
        now = time.time()

        def go(db):
            for stat, reason in items:
                db.execute(
                    "INSERT INTO files (path, size, mtime_ns, fingerprint, status, model_id,"
                    " embedding, error, offline, updated_at) VALUES (CAST(? AS TEXT),?,?,?,"
                    " 'failed', NULL, NULL, CAST(? AS TEXT), 0, ?) ON CONFLICT(path) DO UPDATE"
                    " SET size=excluded.size,"
                    " mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint,"
                    " status='failed', model_id=NULL, embedding=NULL, error=excluded.error,"
                    " offline=0, updated_at=excluded.updated_at",
                    (_t(stat.path), stat.size, stat.mtime_ns, stat.fingerprint, _t(reason), now))

        self._write(go)

    def touch(self, stat: FileStat) -> None:
        """Record a new size/mtime for a file whose content fingerprint did not change."""
        self._write(lambda db: db.execute(
            "UPDATE files SET size = ?, mtime_ns = ?, offline = 0 WHERE path = CAST(? AS TEXT)",
            (stat.size, stat.mtime_ns, _t(stat.path))))

    def remove(self, paths: Iterable[str]) -> list[int]:
        """Delete rows by path; returns the removed row ids."""
        def go(db):
            _bump(db)
            ids = []
            for p in paths:
                row = db.execute("DELETE FROM files WHERE path = CAST(? AS TEXT) RETURNING id",
                                 (_t(p),)).fetchone()
                if row:
                    ids.append(int(row[0]))
            return ids

        return self._write(go)

    def remove_under(self, folder: str) -> list[int]:
        return [int(r[0]) for r in self._write(lambda db: _bump(db) or db.execute(
            f"DELETE FROM files WHERE {_UNDER} RETURNING id", _prefix(folder)).fetchall())]

    def move(self, old: str, new: str) -> list[tuple[int, str, str]]:
        """Rename a file, or every file under a folder; keeps ids and embeddings.

        Returns ``(id, old_path, new_path)`` for each row moved.  A row already at a target path
        is replaced by the moved one.
        """
        return self.apply_changes([("move", old, new)], "").results[0]

    def apply_changes(self, changes: list[tuple], model_id: str, *, remember: int = 0
                      ) -> "Applied":
        """Apply the watcher's changes in order, in one transaction: ``("delete", path)``
        removes a file or every file under a folder, ``("move", old, new)`` renames one (a row
        already at a target path is replaced).  Each change finds its rows through the path
        index (a lookup and a range), never by a scan of the table.

        Returns, per change, ``[(id, path), ...]`` removed or ``[(id, old, new), ...]`` moved,
        the ids of rows replaced by moves, and ``(fingerprint, size, embedding)`` of the last
        ``remember`` removed rows embedded by ``model_id`` (a move seen as delete + create
        keeps its embedding)."""
        cols = "id, path, fingerprint, size, status, model_id, embedding"

        def go(db):
            results: list[list[tuple]] = []
            replaced: list[int] = []
            kept: deque = deque(maxlen=max(0, remember))
            for change in changes:
                if change[0] == "delete":
                    rows = _rows_at(db, change[1], cols)
                    db.executemany("DELETE FROM files WHERE id = ?", [(r[0],) for r in rows])
                    kept.extend((r[2], r[3], r[6]) for r in rows
                                if r[4] == "ok" and r[5] == model_id and r[6] is not None)
                    results.append([(int(r[0]), r[1]) for r in rows])
                elif change[0] == "move":
                    moved, gone = _move_rows(db, change[1], change[2])
                    replaced.extend(gone)
                    results.append(moved)
                else:
                    raise ValueError(f"unknown change {change[0]!r}")
            if replaced or any(r and c[0] == "delete" for c, r in zip(changes, results)):
                _bump(db)
            return Applied(results, replaced, list(kept))

        return self._write(go)

    def set_offline(self, folder: str, offline: bool) -> list[int]:
        """Mark the rows under ``folder`` offline (or online); returns the ids changed."""
        return [int(r[0]) for r in self._write(lambda db: _bump(db) or db.execute(
            f"UPDATE files SET offline = ? WHERE {_UNDER} AND offline != ? "
            "RETURNING id", (int(offline), *_prefix(folder), int(offline))).fetchall())]

    # -- watched folders --------------------------------------------------------------------
    def roots(self) -> list[tuple[str, str]]:
        """``(path, origin)`` of every watched folder, in the order they were added."""
        return [(r[0], r[1]) for r in self._read(
            "SELECT path, origin FROM roots ORDER BY added_at, path")]

    def put_root(self, path: str, origin: str) -> None:
        """Add a watched folder, or change where an existing one counts as coming from."""
        self._write(lambda db: db.execute(
            "INSERT INTO roots VALUES (CAST(? AS TEXT), ?, ?) ON CONFLICT(path) DO UPDATE SET "
            "origin = excluded.origin", (_t(path), origin, time.time())))

    def drop_root(self, path: str, *, keep: Iterable[str] = ()) -> list[tuple[int, str]]:
        """Forget a watched folder and, in the same transaction, every row under it except
        those under a folder in ``keep`` (another watched folder nested inside it); returns
        ``(id, path)`` of the rows removed."""
        keep = [k.rstrip(os.sep) + os.sep for k in keep]

        def go(db):
            _bump(db)
            db.execute("DELETE FROM roots WHERE path = CAST(? AS TEXT)", (_t(path),))
            rows = db.execute(f"SELECT id, path FROM files WHERE {_UNDER}",
                              _prefix(path)).fetchall()
            gone = [(int(i), p) for i, p in rows if not any(p.startswith(k) for k in keep)]
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i, _ in gone])
            return gone

        return self._write(go)

    def remove_outside(self, roots: Iterable[str]) -> list[tuple[int, str]]:
        """Delete the rows under none of ``roots`` (left by a folder no longer watched);
        returns their ``(id, path)``."""
        prefixes = [_prefix(r) for r in roots]
        inside = " OR ".join(_UNDER for _ in prefixes) or "0"
        params = tuple(x for p in prefixes for x in p)

        def go(db):
            gone = [(int(i), p) for i, p in db.execute(
                f"DELETE FROM files WHERE NOT ({inside}) RETURNING id, path", params)]
            if gone:
                _bump(db)
            return gone

        return self._write(go)


    # -- embeddings by another model (a model switch) ---------------------------------------
    def shadow_todo(self, model_id: str) -> list[tuple[int, str]]:
        """``(id, path)`` of the online embedded rows that have no embedding by ``model_id``:
        neither their own nor one in ``shadow`` for their current content."""
        return [(int(r[0]), r[1]) for r in self._read(
            "SELECT f.id, f.path FROM files f WHERE f.status = 'ok' AND f.offline = 0 AND "
            "f.model_id IS NOT ? AND NOT EXISTS (SELECT 1 FROM shadow s WHERE s.id = f.id "
            "AND s.model_id = ? AND s.size = f.size AND s.fingerprint = f.fingerprint) "
            "ORDER BY f.id", (model_id, model_id))]

    def put_shadow(self, items: Iterable[tuple[FileStat, np.ndarray]], model_id: str) -> int:
        """Keep embeddings by ``model_id`` for the rows at these paths (one transaction; paths
        no longer in the index are skipped); returns how many were kept.  The searchable
        rows do not change."""
        def go(db):
            n = 0
            for stat, vec in items:
                row = db.execute("SELECT id FROM files WHERE path = CAST(? AS TEXT)",
                                 (_t(stat.path),)).fetchone()
                if row is None:
                    continue
                db.execute("INSERT OR REPLACE INTO shadow VALUES (?, ?, ?, ?, ?)",
                           (int(row[0]), model_id, stat.size, stat.fingerprint,
                            np.ascontiguousarray(vec, dtype=np.float32).tobytes()))
                n += 1
            return n

        return self._write(go)

    def prune_shadow(self, keep: str) -> int:
        """Drop the shadow embeddings of every model but ``keep``, and those of rows gone."""
        return self._write(lambda db: db.execute(
            "DELETE FROM shadow WHERE model_id != ? OR id NOT IN (SELECT id FROM files)",
            (keep,)).rowcount)

    def shadow_count(self, model_id: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM shadow WHERE model_id = ?",
                              (model_id,))[0][0])

    def preview_adopt(self, model_id: str) -> Loaded:
        """The searchable rows as ``adopt(model_id)`` will leave them (online rows embedded by
        ``model_id``, or with a matching shadow embedding by it), read in one snapshot; the
        generation is the one ``adopt`` will give the store.  Rows whose embedding is not of
        the usual length are left out (``damaged``)."""
        try:
            with self._lock:
                db = self._db
                db.execute("BEGIN")
                try:
                    row = db.execute("SELECT value FROM meta WHERE key = 'generation'"
                                     ).fetchone()
                    rows = db.execute(
                        "SELECT f.id, f.path, CASE WHEN f.model_id = ? AND f.embedding IS "
                        "NOT NULL THEN f.embedding ELSE s.embedding END "
                        "FROM files f LEFT JOIN shadow s ON "
                        "s.id = f.id AND s.model_id = ? AND s.size = f.size AND "
                        "s.fingerprint = f.fingerprint WHERE f.status = 'ok' AND "
                        "f.offline = 0 AND (s.embedding IS NOT NULL OR (f.model_id = ? AND "
                        "f.embedding IS NOT NULL)) ORDER BY f.id",
                        (model_id, model_id, model_id)).fetchall()
                finally:
                    db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, self.path)) from None
        generation = (int(row[0]) if row else 0) + 1
        width, usual = _usual_width(np.fromiter((len(r[2]) for r in rows), dtype=np.int64,
                                                count=len(rows)))
        good = [r for r, ok in zip(rows, usual.tolist()) if ok]
        damaged = [(int(r[0]), r[1]) for r, ok in zip(rows, usual.tolist()) if not ok]
        ids = np.fromiter((r[0] for r in good), dtype=np.int64, count=len(good))
        vecs = np.frombuffer(bytearray(b"".join(r[2] for r in good)), dtype=np.float32) \
            .reshape(len(good), width // 4) if good else np.empty((0, width // 4), np.float32)
        return Loaded(ids, [r[1] for r in good], vecs, damaged, generation)

    def adopt(self, model_id: str, *, marker: str | None = None) -> int:
        """In one transaction: every embedded row with an embedding by ``model_id`` in
        ``shadow`` for its current content takes it (its own embedding goes to ``shadow``,
        under its model), and the rest of ``model_id``'s shadow embeddings are dropped.
        ``marker``: also record it as meta ``switching`` (see ``Catalog``).  Returns how
        many rows changed model."""
        match = ("FROM shadow s WHERE s.id = files.id AND s.model_id = ?1 AND "
                 "s.size = files.size AND s.fingerprint = files.fingerprint")
        swapped = f"files.status = 'ok' AND files.model_id IS NOT ?1 AND EXISTS (SELECT 1 {match})"

        def go(db):
            db.execute("INSERT OR REPLACE INTO shadow SELECT id, model_id, size, fingerprint, "
                       f"embedding FROM files WHERE {swapped} AND model_id IS NOT NULL AND "
                       "embedding IS NOT NULL", (model_id,))
            n = db.execute(f"UPDATE files SET model_id = ?1, embedding = (SELECT s.embedding "
                           f"{match}) WHERE {swapped}", (model_id,)).rowcount
            db.execute("DELETE FROM shadow WHERE model_id = ?", (model_id,))
            if marker is not None:
                db.execute("INSERT INTO meta VALUES ('switching', ?) ON CONFLICT(key) DO "
                           "UPDATE SET value = excluded.value", (marker,))
            _bump(db)
            return n

        return self._write(go)


def _rows_at(db: sqlite3.Connection, path: str, cols: str) -> list[tuple]:
    """The rows of the file ``path`` and of every file under the folder ``path``, found through
    the path index: an equality and a range (paths under ``a/b`` sort from ``a/b/`` to just
    before ``a/b0``, "0" being the character after the separator)."""
    return db.execute(f"SELECT {cols} FROM files WHERE path = CAST(? AS TEXT) UNION ALL "
                      f"SELECT {cols} FROM files WHERE {_UNDER}",
                      (_t(path), *_prefix(path))).fetchall()


def _move_rows(db: sqlite3.Connection, old: str, new: str
               ) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Rename the file ``old``, or every file under the folder ``old``, to ``new`` (ids and
    embeddings kept; a row already at a target path is replaced): ``(id, old, new)`` of each
    row moved, and the ids of the rows replaced."""
    old_prefix = old.rstrip(os.sep) + os.sep
    new_prefix = new.rstrip(os.sep) + os.sep
    moved, replaced = [], []
    for rid, path in _rows_at(db, old, "id, path"):
        # a folder name ends at a "/", where UTF-8 decoding starts afresh: the str prefix
        # matches as the bytes did
        target = new if path == old else new_prefix + path[len(old_prefix):]
        replaced.extend(int(r[0]) for r in db.execute(
            "DELETE FROM files WHERE path = CAST(? AS TEXT) AND id != ? RETURNING id",
            (_t(target), rid)).fetchall())
        db.execute("UPDATE files SET path = CAST(? AS TEXT), offline = 0 WHERE id = ?",
                   (_t(target), rid))
        moved.append((int(rid), path, target))
    return moved, replaced


def _usual_width(lengths: np.ndarray) -> tuple[int, np.ndarray]:
    """The usual embedding length in bytes (the most common positive one; -1 stands for a
    missing embedding) and which rows have it; no row has it unless it is a whole number of
    float32 values."""
    positive = lengths[lengths > 0]
    width = int(np.bincount(positive).argmax()) if positive.size else 0
    good = (lengths == width) if width > 0 and width % 4 == 0 else \
        np.zeros(len(lengths), dtype=bool)
    return width, good


def _bump(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE "
               "SET value = CAST(value AS INTEGER) + 1")


def _open_failure(exc: sqlite3.Error, path: Path) -> str:
    """Why the index at ``path`` could not be opened for writing, in plain words."""
    return _describe(exc, path, opening=True).removesuffix("; nothing was changed")


def _describe(exc: sqlite3.Error, path: Path, *, opening: bool = False) -> str:
    """Turn SQLite's terse errors into what the user can act on."""
    msg = str(exc)
    cause = diagnose(path, io_error="I/O error" in msg or "full" in msg)
    if cause is not None:
        return f"{cause}; nothing was changed"
    folder = path.parent
    try:
        full = shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        full = False
    if "full" in msg or full:
        return f"no space left on the disk holding the index ({folder}); nothing was changed"
    if "readonly" in msg or "read-only" in msg or (folder.exists()
                                                   and not os.access(folder, os.W_OK)):
        if folder.exists() and os.access(folder, os.W_OK):
            for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if f.exists() and not os.access(f, os.W_OK):
                    return f"the index file {f} is read-only; nothing was changed"
        return f"the index folder {folder} is read-only; nothing was changed"
    if "locked" in msg:
        return f"the index at {path} is locked by another process ({msg})"
    if opening:
        return msg
    return f"index database error at {path}: {msg}"


#: a file size limit (``ulimit -f``) closer than this to the index's largest file is named as
#: the cause of an I/O error: one transaction's write-ahead log frames and a checkpoint's growth
#: of the database fit in it with room to spare
FSIZE_HEADROOM = 8 * 1024 * 1024
#: free space below which a failed write is put down to a full disk
FULL_BELOW = 64 * 1024


def diagnose(path: Path, *, io_error: bool = True) -> str | None:
    """Why the index database at ``path`` cannot be written, when the cause is one the user can
    fix, else None: the disk is full, the folder is read-only, or (for an I/O error) the file
    size limit is below what the database and its write-ahead log need.  SQLite reports the
    last as a plain "disk I/O error": Python ignores SIGXFSZ, so a write past ``ulimit -f``
    fails with EFBIG.  Cheap (a few system calls): callers may poll it to notice the cause
    going away."""
    import shutil

    folder = path.parent
    try:
        if shutil.disk_usage(folder).free < FULL_BELOW:
            return f"no space left on the disk holding the index ({folder})"
    except OSError:
        pass
    if folder.exists() and not os.access(folder, os.W_OK):
        return f"the index folder {folder} is read-only"
    if not io_error:
        return None
    limit = fsize_limit()
    if limit is not None:
        sizes = {}
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            try:
                sizes[name] = (folder / name).stat().st_size
            except OSError:
                sizes[name] = 0
        if limit < max(sizes.values()) + FSIZE_HEADROOM:
            return (f"the file size limit (ulimit -f) of {limit} bytes is below what the index "
                    f"needs ({path.name} is {sizes[path.name]} bytes, its write-ahead log "
                    f"{sizes[path.name + '-wal']} bytes, and both grow with the library); "
                    "raise it (`ulimit -f unlimited` where the daemon is started, "
                    "LimitFSIZE=infinity for a systemd service)")
    return None


def fsize_limit() -> int | None:
    """This process's file size limit in bytes (RLIMIT_FSIZE), None when unlimited."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)
