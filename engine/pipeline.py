"""Decode -> features -> batched embedding: the indexing pipeline.

Decoding and feature extraction (pure numpy/librosa, releasing the GIL much of the time) run in a
small bounded thread pool, a few files ahead of the encoder, so reading overlaps inference; the
encoder itself runs on the calling thread in batches.
"""
from __future__ import annotations

import os
import stat as stat_mod
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .audio import AudioError, file_fingerprint, is_audio_name, load_audio
from .features import l2_normalise
from .folders import hidden, read_mounts, refuse_folder
from .index.store import FileStat
from .model.base import Encoder


@dataclass(frozen=True)
class Outcome:
    """The result of embedding one file: a vector, or the reason it failed."""
    stat: FileStat
    vector: np.ndarray | None = None
    error: str | None = None
    reused: bool = False  # the vector came from identical content already known


#: the fingerprint of a file that could not be opened: its failure is retried once it can be
#: read (a permission given back changes neither its size nor its mtime)
UNREAD = ""


def stat_file(path: str) -> FileStat:
    """Size, mtime and content fingerprint of ``path`` (raises OSError)."""
    st = os.stat(path)
    return FileStat(path, st.st_size, st.st_mtime_ns, file_fingerprint(path, size=st.st_size))


def scan(folders: Iterable[str], *, should_stop: Callable[[], bool] = lambda: False,
         links: list[tuple[str, str]] | None = None,
         unreadable: list[str] | None = None) -> Iterator[str]:
    """Absolute paths of the audio files under ``folders``, recursively.

    Follows symbolic links to folders, but never into a folder already visited (symlink loops
    and two links to one folder are harmless: each folder is listed once, under the first
    path that reaches it), and never into a system folder or pseudo file system
    (``engine.folders.refuse_folder``: a link to ``/`` or ``/proc``, a ``proc`` mounted
    inside); hidden names (``engine.folders.hidden``) are skipped with all they hold; folders
    named like audio files are not files and are descended into, not returned; unreadable
    folders are skipped.  ``links``, when given, receives
    ``(link path, resolved folder)`` for each symbolic link to a folder that was followed;
    ``unreadable``, when given, receives the folders that exist but could not be listed (no
    permission, an I/O error): what they hold is unknown, not gone.
    """
    seen: set[tuple[int, int]] = set()
    stack = [os.path.abspath(f) for f in folders]
    mounts = read_mounts()
    points = {m[0] for m in mounts}
    while stack:
        if should_stop():
            return
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen or not stat_mod.S_ISDIR(st.st_mode):
            continue
        seen.add(ident)
        if links is not None and os.path.islink(folder):
            links.append((folder, os.path.realpath(folder)))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone since it was seen
        except OSError:
            if unreadable is not None:
                unreadable.append(folder)
            continue
        subdirs = []
        for entry in entries:
            if hidden(entry.name):
                continue  # hidden (engine.folders.hidden): ._AppleDouble, .DS_Store, .git
            try:
                if entry.is_dir(follow_symlinks=True):
                    if (entry.is_symlink() or entry.path in points) and refuse_folder(
                            os.path.realpath(entry.path), mounts) is not None:
                        continue  # a link to /, /proc ... or a pseudo file system mounted here
                    subdirs.append(entry.path)
                elif is_audio_name(entry.name) and entry.is_file(follow_symlinks=True):
                    yield entry.path
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def prepare(encoder: Encoder, path: str,
            reuse: Callable[[FileStat], np.ndarray | None] | None = None
            ) -> tuple[FileStat | None, np.ndarray | None, str | None, np.ndarray | None]:
    """Stat, decode and featurise one file.

    Returns (stat, features, None, None), or (stat, None, reason, None) for a file that cannot
    be read, or (stat, None, None, vector) when ``reuse(stat)`` already knows its embedding
    (same content seen before: a copy, or a move seen as delete + create).
    """
    try:
        st = stat_file(path)
    except OSError as exc:
        reason = f"cannot read file: {exc.strerror or exc}"
        try:  # there but unreadable (no permission): recorded as a failure with the reason
            raw = os.stat(path)
        except OSError:
            return None, None, reason, None  # gone: nothing to record
        if not stat_mod.S_ISREG(raw.st_mode):
            return None, None, reason, None
        return FileStat(path, raw.st_size, raw.st_mtime_ns, UNREAD), None, reason, None
    if reuse is not None:
        known = reuse(st)
        if known is not None:
            return st, None, None, known
    try:
        y = load_audio(path)
        feats = encoder.features(y)
    except AudioError as exc:
        return st, None, exc.reason, None
    except MemoryError:
        return st, None, "out of memory while decoding", None
    except Exception as exc:  # a decoder bug must not stop the indexing of the rest
        return st, None, f"could not decode ({type(exc).__name__}: {exc})", None
    if not np.all(np.isfinite(feats)):
        feats = np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)
    return st, feats, None, None


def embed_features(encoder: Encoder, feats: np.ndarray) -> np.ndarray:
    """Batch of features -> L2-normalised (per aspect) embeddings, shape (n, dim)."""
    vecs = encoder.embed(np.asarray(feats, dtype=np.float32))
    return l2_normalise(vecs, aspects=encoder.aspects.values())


def embed_files(encoder: Encoder, paths: Iterable[str], *, batch_size: int = 32,
                threads: int = 1, lookahead: int | None = None,
                stop: threading.Event | None = None,
                lock: threading.Lock | None = None,
                reuse: Callable[[FileStat], np.ndarray | None] | None = None
                ) -> Iterator[Outcome]:
    """Embed ``paths`` in batches; yields one :class:`Outcome` per file, in batch order.

    ``threads`` bounds the decoding pool; at most ``lookahead`` files (default two batches)
    are decoded ahead of the encoder, which bounds memory.  Setting ``stop`` ends the
    iteration after the batch in progress.  ``lock``, when given, is held around each call of
    the encoder (so that other threads may share it between batches).  ``reuse`` (see
    :func:`prepare`) lets known content skip decoding and the encoder.
    """
    lookahead = lookahead or 2 * batch_size
    pending: deque[Future] = deque()
    it = iter(paths)
    with ThreadPoolExecutor(max_workers=max(1, threads),
                            thread_name_prefix="soundalike-decode") as pool:
        def fill() -> None:
            while len(pending) < lookahead:
                try:
                    p = next(it)
                except StopIteration:
                    return
                pending.append(pool.submit(prepare, encoder, p, reuse))

        fill()
        try:
            while pending:
                if stop is not None and stop.is_set():
                    return
                batch_stats, batch_feats = [], []
                while pending and len(batch_feats) < batch_size:
                    st, feats, err, known = pending.popleft().result()
                    fill()
                    if known is not None:
                        yield Outcome(st, vector=known, reused=True)
                        continue
                    if err is not None:
                        if st is not None:
                            yield Outcome(st, error=err)
                        continue
                    batch_stats.append(st)
                    batch_feats.append(feats)
                if batch_feats:
                    try:
                        if lock is not None:
                            with lock:
                                vecs = embed_features(encoder, np.stack(batch_feats))
                        else:
                            vecs = embed_features(encoder, np.stack(batch_feats))
                    except Exception as exc:  # a model failure fails the batch, not the run
                        for st in batch_stats:
                            yield Outcome(st, error=f"encoder failed ({type(exc).__name__}: {exc})")
                        continue
                    for st, vec in zip(batch_stats, vecs):
                        yield Outcome(st, vector=vec)
        finally:
            for fut in pending:
                fut.cancel()
