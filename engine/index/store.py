"""The persisted index: one SQLite database (WAL, every write one transaction).

One row per watched folder (``roots``: its path and where it was added from) and one row per
file: path, size, mtime, a content fingerprint, the model that embedded it and the
L2-normalised embedding (float32 bytes) or, for a file that could not be read, the reason.  Row
ids are stable across renames and moves, so they double as the search index's keys.

``shadow`` holds embeddings by *other* models, keyed by file row id and model, each with the
content (size and fingerprint) it was computed from: a model switch writes the new model's
there while the files' own embeddings keep answering, then ``adopt`` swaps them in one
transaction (the replaced ones go to ``shadow``, so switching back needs no re-embedding).
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
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
        committed state; a missing database reads as empty."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.read_only = read_only
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
                self._reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                               check_same_thread=False, isolation_level=None,
                                               timeout=30.0)
            except sqlite3.Error:  # reads go through the one connection
                self._reader = None
        except sqlite3.Error as exc:
            if self.path.exists() and not os.access(self.path.parent, os.W_OK):
                # a read-only data dir (or medium): reading still works, writing says why
                try:
                    self._db = sqlite3.connect(f"file:{self.path}?immutable=1", uri=True,
                                               check_same_thread=False, isolation_level=None)
                    self._db.execute("SELECT 1 FROM files LIMIT 1")
                    self.read_only = True
                    return
                except sqlite3.Error:
                    pass
            raise StoreError(f"cannot open the index at {self.path}: "
                             f"{_describe(exc, self.path, opening=True)}") from None

    def _open_read_only(self) -> sqlite3.Connection:
        if self.path.exists():
            try:
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                     check_same_thread=False, isolation_level=None,
                                     timeout=30.0)
                db.execute("SELECT 1 FROM files LIMIT 1")
                try:
                    db.execute("SELECT 1 FROM roots LIMIT 1")
                except sqlite3.Error:  # written by an older version: no watched folders kept
                    db.close()
                    raise sqlite3.OperationalError("no roots table")
                return db
            except sqlite3.Error:
                pass
        db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
            db.execute(stmt)
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                             timeout=30.0)
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
            raise StoreError(f"the index at {self.path} is read-only (its folder cannot be "
                             "written): nothing was changed")
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
        sql = f"SELECT {self._ENTRY_COLS} FROM files WHERE path = ?"
        if self._reader is None:
            rows = self._read(sql, (path,))
        else:
            try:
                with self._reader_lock:
                    rows = self._reader.execute(sql, (path,)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc, self.path)) from None
        return self._entry(rows[0]) if rows else None

    def entries(self, *, under: str | None = None) -> list[Entry]:
        if under is None:
            rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files")
        else:
            prefix = under.rstrip(os.sep) + os.sep
            rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files WHERE substr(path, 1, ?) = ?",
                              (len(prefix), prefix))
        return [self._entry(r) for r in rows]

    def find_by_fingerprint(self, fingerprint: str, size: int) -> list[Entry]:
        rows = self._read(f"SELECT {self._ENTRY_COLS} FROM files WHERE fingerprint = ? AND size = ?",
                          (fingerprint, size))
        return [self._entry(r) for r in rows]

    def embedding(self, path: str, model_id: str) -> np.ndarray | None:
        rows = self._read("SELECT embedding FROM files WHERE path = ? AND model_id = ? "
                          "AND status = 'ok'", (path, model_id))
        return np.frombuffer(rows[0][0], dtype=np.float32).copy() if rows else None

    def iter_embeddings(self, model_id: str, *, under: str | None = None,
                        chunk: int = 50_000) -> Iterator[tuple[np.ndarray, list[str], np.ndarray]]:
        """(ids, paths, vectors) in chunks, for online rows embedded by ``model_id`` (only
        those under the folder ``under`` if given)."""
        last = -1
        prefix = under.rstrip(os.sep) + os.sep if under is not None else ""
        while True:
            rows = self._read("SELECT id, path, embedding FROM files WHERE model_id = ? AND "
                              "status = 'ok' AND offline = 0 AND id > ? "
                              "AND substr(path, 1, ?) = ? ORDER BY id LIMIT ?",
                              (model_id, last, len(prefix), prefix, chunk))
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
        positive = lengths[lengths > 0]
        width = int(np.bincount(positive).argmax()) if positive.size else 0  # the usual one
        good = (lengths == width) if width > 0 and width % 4 == 0 else \
            np.zeros(len(ids), dtype=bool)
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
                    " embedding, error, offline, updated_at) VALUES (?,?,?,?, 'ok', ?,?, NULL, 0, ?)"
                    " ON CONFLICT(path) DO UPDATE SET size=excluded.size,"
                    " mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint,"
                    " status='ok', model_id=excluded.model_id, embedding=excluded.embedding,"
                    " error=NULL, offline=0, updated_at=excluded.updated_at RETURNING id",
                    (stat.path, stat.size, stat.mtime_ns, stat.fingerprint, model_id, blob,
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
                    " embedding, error, offline, updated_at) VALUES (?,?,?,?, 'failed', NULL,"
                    " NULL, ?, 0, ?) ON CONFLICT(path) DO UPDATE SET size=excluded.size,"
                    " mtime_ns=excluded.mtime_ns, fingerprint=excluded.fingerprint,"
                    " status='failed', model_id=NULL, embedding=NULL, error=excluded.error,"
                    " offline=0, updated_at=excluded.updated_at",
                    (stat.path, stat.size, stat.mtime_ns, stat.fingerprint, reason, now))

        self._write(go)

    def touch(self, stat: FileStat) -> None:
        """Record a new size/mtime for a file whose content fingerprint did not change."""
        self._write(lambda db: db.execute(
            "UPDATE files SET size = ?, mtime_ns = ?, offline = 0 WHERE path = ?",
            (stat.size, stat.mtime_ns, stat.path)))

    def remove(self, paths: Iterable[str]) -> list[int]:
        """Delete rows by path; returns the removed row ids."""
        def go(db):
            _bump(db)
            ids = []
            for p in paths:
                row = db.execute("DELETE FROM files WHERE path = ? RETURNING id", (p,)).fetchone()
                if row:
                    ids.append(int(row[0]))
            return ids

        return self._write(go)

    def remove_under(self, folder: str) -> list[int]:
        prefix = folder.rstrip(os.sep) + os.sep
        return [int(r[0]) for r in self._write(lambda db: _bump(db) or db.execute(
            "DELETE FROM files WHERE substr(path, 1, ?) = ? RETURNING id",
            (len(prefix), prefix)).fetchall())]

    def move(self, old: str, new: str) -> list[tuple[int, str, str]]:
        """Rename a file, or every file under a folder; keeps ids and embeddings.

        Returns ``(id, old_path, new_path)`` for each row moved.  A row already at a target path
        is replaced by the moved one.
        """
        old_prefix = old.rstrip(os.sep) + os.sep
        new_prefix = new.rstrip(os.sep) + os.sep

        def go(db):
            rows = db.execute("SELECT id, path FROM files WHERE path = ? OR substr(path, 1, ?) = ?",
                              (old, len(old_prefix), old_prefix)).fetchall()
            moved = []
            for rid, path in rows:
                target = new if path == old else new_prefix + path[len(old_prefix):]
                db.execute("DELETE FROM files WHERE path = ? AND id != ?", (target, rid))
                db.execute("UPDATE files SET path = ?, offline = 0 WHERE id = ?", (target, rid))
                moved.append((int(rid), path, target))
            return moved

        return self._write(go)

    def set_offline(self, folder: str, offline: bool) -> list[int]:
        """Mark the rows under ``folder`` offline (or online); returns the ids changed."""
        prefix = folder.rstrip(os.sep) + os.sep
        return [int(r[0]) for r in self._write(lambda db: _bump(db) or db.execute(
            "UPDATE files SET offline = ? WHERE substr(path, 1, ?) = ? AND offline != ? "
            "RETURNING id", (int(offline), len(prefix), prefix, int(offline))).fetchall())]

    # -- watched folders --------------------------------------------------------------------
    def roots(self) -> list[tuple[str, str]]:
        """``(path, origin)`` of every watched folder, in the order they were added."""
        return [(r[0], r[1]) for r in self._read(
            "SELECT path, origin FROM roots ORDER BY added_at, path")]

    def put_root(self, path: str, origin: str) -> None:
        """Add a watched folder, or change where an existing one counts as coming from."""
        self._write(lambda db: db.execute(
            "INSERT INTO roots VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
            "origin = excluded.origin", (path, origin, time.time())))

    def drop_root(self, path: str, *, keep: Iterable[str] = ()) -> list[tuple[int, str]]:
        """Forget a watched folder and, in the same transaction, every row under it except
        those under a folder in ``keep`` (another watched folder nested inside it); returns
        ``(id, path)`` of the rows removed."""
        prefix = path.rstrip(os.sep) + os.sep
        keep = [k.rstrip(os.sep) + os.sep for k in keep]

        def go(db):
            _bump(db)
            db.execute("DELETE FROM roots WHERE path = ?", (path,))
            rows = db.execute("SELECT id, path FROM files WHERE substr(path, 1, ?) = ?",
                              (len(prefix), prefix)).fetchall()
            gone = [(int(i), p) for i, p in rows if not any(p.startswith(k) for k in keep)]
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i, _ in gone])
            return gone

        return self._write(go)

    def remove_outside(self, roots: Iterable[str]) -> list[tuple[int, str]]:
        """Delete the rows under none of ``roots`` (left by a folder no longer watched);
        returns their ``(id, path)``."""
        prefixes = [r.rstrip(os.sep) + os.sep for r in roots]
        inside = " OR ".join("substr(path, 1, ?) = ?" for _ in prefixes) or "0"
        params = tuple(x for p in prefixes for x in (len(p), p))

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
                row = db.execute("SELECT id FROM files WHERE path = ?", (stat.path,)).fetchone()
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
        widths = [len(r[2]) for r in rows]
        width = max(set(widths), key=widths.count) if widths else 0
        good = [r for r in rows if len(r[2]) == width and width % 4 == 0 and width]
        damaged = [(int(r[0]), r[1]) for r in rows if not (len(r[2]) == width and width % 4 == 0
                                                         and width)]
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


def _bump(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE "
               "SET value = CAST(value AS INTEGER) + 1")


def _describe(exc: sqlite3.Error, path: Path, *, opening: bool = False) -> str:
    """Turn SQLite's terse errors into what the user can act on."""
    import shutil

    msg = str(exc)
    folder = path.parent
    try:
        full = shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        full = False
    if "full" in msg or full:
        return f"no space left on the disk holding the index ({folder}); nothing was changed"
    if "readonly" in msg or "read-only" in msg or (folder.exists()
                                                   and not os.access(folder, os.W_OK)):
        return f"the index folder {folder} is read-only; nothing was changed"
    if "locked" in msg:
        return f"the index at {path} is locked by another process ({msg})"
    if opening:
        return msg
    return f"index database error at {path}: {msg}"
