"""Choosing the active model: listing the trained ones, switching and rolling back.

The active model is named by ``models/active`` in the data dir (no file: the packaged
default).  :func:`switch_model` re-embeds every indexed file with the new model *before* the
pointer moves, and writes the new embeddings in one transaction: until then the index answers
with the old model's embeddings, and afterwards it is complete for the new one, so ``status``
and ``similar`` never find it empty.  It works in-process; a running daemon keeps its own
model until it restarts (the caller refuses to switch under it).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .model.registry import PACKAGED_DEFAULT, ModelError, load_encoder, model_id_of, read_spec

#: the name that means the packaged model in ``soundalike model use``
DEFAULT_NAME = "default"


def models_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "models"


def active_name(data_dir: str | os.PathLike) -> str:
    """The active model's folder name under ``models/``, or :data:`DEFAULT_NAME`."""
    from .models import active_model_dir

    found = active_model_dir(data_dir)
    return DEFAULT_NAME if found == PACKAGED_DEFAULT else found.name


def list_models(data_dir: str | os.PathLike) -> list[dict]:
    """The packaged default, then every trained model in ``models/`` (oldest first):
    ``{"name", "model_id", "kind", "dir", "active", "info"}`` (``info``: its training
    record, :func:`engine.training.read_info`)."""
    from .training import read_info

    active = active_name(data_dir)
    out = []
    for name, d in [(DEFAULT_NAME, PACKAGED_DEFAULT), *_trained(data_dir)]:
        try:
            spec = read_spec(d)
        except ModelError:
            continue
        out.append({"name": name, "model_id": str(spec.get("model_id") or name),
                    "kind": spec["kind"], "dir": str(d), "active": name == active,
                    "info": read_info(d) if name != DEFAULT_NAME else {}})
    return out


def _trained(data_dir) -> list[tuple[str, Path]]:
    root = models_dir(data_dir)
    try:
        found = [d for d in root.iterdir()
                 if d.is_dir() and not d.name.startswith(".") and (d / "encoder.json").is_file()]
    except OSError:
        return []
    return [(d.name, d) for d in sorted(found, key=lambda d: (d.stat().st_mtime, d.name))]


def resolve(data_dir: str | os.PathLike, name: str) -> tuple[str, Path]:
    """A model named as ``model use`` takes it: ``default``, a folder name, or a unique prefix
    of one -> (its name, its folder).  Raises ModelError naming the choices."""
    if name == DEFAULT_NAME:
        return DEFAULT_NAME, PACKAGED_DEFAULT
    trained = dict(_trained(data_dir))
    if name in trained:
        return name, trained[name]
    hits = [n for n in trained if n.startswith(name)] if name else []
    if len(hits) == 1:
        return hits[0], trained[hits[0]]
    known = ", ".join([DEFAULT_NAME, *trained]) or DEFAULT_NAME
    raise ModelError(f"{'ambiguous' if hits else 'no'} model {name!r} (models: {known})")


def switch_model(data_dir: str | os.PathLike, name: str, *,
                 progress: Callable[[int, int], None] | None = None,
                 threads: int | None = None) -> dict:
    """Make model ``name`` (see :func:`resolve`) the active one: re-embed every indexed file
    with it (one transaction), then point ``models/active`` at it.  Files that cannot be read
    now keep their old embedding (the next ``index`` re-embeds or drops them).  Returns
    ``{"name", "model_id", "reembedded", "unreadable", "unchanged"}``; ``unchanged`` is True
    when it was already active and every file had its embeddings."""
    from .catalog import Catalog
    from .datadir import ensure_private_dir
    from .models import activate_model
    from .pipeline import Outcome, embed_files

    name, model_dir = resolve(data_dir, name)
    new_id = model_id_of(model_dir)
    catalog = Catalog(ensure_private_dir(data_dir), new_id)  # the index's one owner
    try:
        todo = [e.path for e in catalog.entries()
                if e.status == "ok" and not e.offline and e.model_id != new_id]
        good, unreadable = [], 0
        if todo:
            encoder = load_encoder(model_dir)
            for i, outcome in enumerate(embed_files(encoder, todo, threads=threads or
                                                    min(2, os.cpu_count() or 1)), 1):
                if outcome.vector is not None:
                    good.append((outcome.stat, outcome.vector))
                else:
                    unreadable += 1
                if progress is not None:
                    progress(i, len(todo))
            if good:  # one transaction
                catalog.record([Outcome(stat, vector) for stat, vector in good])
    finally:
        catalog.close()
    unchanged = not todo and active_name(data_dir) == name
    if name == DEFAULT_NAME:
        pointer = models_dir(data_dir) / "active"
        if pointer.exists():
            pointer.unlink()
    else:
        activate_model(data_dir, name)
    return {"name": name, "model_id": new_id, "reembedded": len(good),
            "unreadable": unreadable, "unchanged": unchanged}
