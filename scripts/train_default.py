#!/usr/bin/env python3
"""Reproduce the shipped default model (engine/models/default) from the dev corpus.

usage: python3 scripts/train_default.py CORPUS_DIR [--out DIR] [--parts train,val]
                                        [--extra DIR ...] [--program-weight W]
                                        [--sources F] [--members N] [--epochs N] [--seed S]
                                        [--split-seed S] [--cache DIR]

CORPUS_DIR is built by ../shared/corpus/build-dev-corpus.  The corpus is split by source with
engine.evaluate.split_sources (seed 0); only the parts named by --parts are used for training
(never test; the shipped model: train and val, after every choice was made on val with models
trained on train alone), with class labels for the supervised-contrastive term and sources (kit
instrument, GM program) for the fine-detail term.  --extra adds a training-only corpus in the
same format (../shared/corpus/build-extra-corpus), less its sources that render the GM program
or percussion key of a dev source outside --parts (engine.evaluate.training_rows).
--program-weight adds a third term on the GM program or key across soundfonts (the same
program of another soundfont is a positive).  --sources keeps that fraction of each class's
sources (seeded; a learning curve).  --members networks (seeds S, S+1, ...) are trained one
after the other and averaged.  --cache keeps each file's pitch variants (the slow part of
loading) for the next run.  Deterministic up to TensorFlow's thread scheduling.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def keep_sources(rows: list[dict], fraction: float, seed: int) -> list[dict]:
    """The rows of ``fraction`` of each class's sources (at least one), seeded."""
    by_class: dict[str, set] = defaultdict(set)
    for r in rows:
        by_class[r["class"]].add(r["source"])
    rng, kept = random.Random(seed), set()
    for cls in sorted(by_class):
        sources = sorted(by_class[cls])
        rng.shuffle(sources)
        kept.update(sources[:max(1, round(len(sources) * fraction))])
    return [r for r in rows if r["source"] in kept]


def cached_variants(paths: list[str], cfg: dict, cache: Path | None, on_load):
    """Pitch variants of every readable file, from ``cache`` where it has them."""
    import numpy as np

    from engine.audio import AudioError, load_audio
    from engine.model import contrastive as C

    tag = json.dumps(cfg, sort_keys=True)
    out, keep = [], []
    for i, p in enumerate(paths):
        st = os.stat(p)
        key = hashlib.sha1(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{tag}".encode()).hexdigest()
        f = cache / f"{key}.npy" if cache else None
        try:
            if f is not None and f.is_file():
                v = np.load(f)
            else:
                v = C.pitch_variants(load_audio(p), cfg)
                if f is not None:
                    np.save(f, v)
            out.append(v)
            keep.append(i)
        except AudioError:
            pass
        on_load(i + 1, len(paths))
    return np.stack(out), keep


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("--out", default=str(ROOT / "engine" / "models" / "default"))
    p.add_argument("--parts", default="train,val", help="comma-separated: train, val")
    p.add_argument("--extra", action="append", default=[], metavar="DIR",
                   help="a training-only corpus to add (repeatable)")
    p.add_argument("--program-weight", type=float, default=None, metavar="W",
                   help="weight of the GM-program term (default: the recipe's, "
                        "DEFAULT_TRAINING['program_weight'])")
    p.add_argument("--sources", type=float, default=1.0, metavar="F",
                   help="keep this fraction of each class's sources (default 1: all)")
    p.add_argument("--epochs", type=int, default=None, help="per member")
    p.add_argument("--members", type=int, default=None,
                   help="networks averaged (default: the shipped model's, "
                        "contrastive.SHIPPED_MEMBERS)")
    p.add_argument("--passes", type=int, metavar="N",
                   help="train for about N file passes (epochs = N / files, rounded up): "
                        "a fixed compute budget for a learning curve; overrides --epochs")
    p.add_argument("--width", type=int, metavar="W",
                   help="the network's base width (default: the recipe's, "
                        "DEFAULT_CONFIG['width'])")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--cache", metavar="DIR", help="keep pitch variants here between runs")
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if not 0 < args.sources <= 1:
        p.error("--sources must be above 0 and at most 1")

    from engine.evaluate import program_of, training_rows
    from engine.model import contrastive as C

    try:
        rows = training_rows(args.corpus, args.parts, split_seed=args.split_seed,
                             extra=args.extra)
    except ValueError as exc:
        p.error(str(exc))
    if args.sources < 1:
        rows = keep_sources(rows, args.sources, args.seed)
    n_sources = len({r["source"] for r in rows})
    print(f"training on {len(rows)} files of {n_sources} sources ({args.parts}"
          f"{' + ' + ', '.join(args.extra) if args.extra else ''}, split seed "
          f"{args.split_seed})", flush=True)
    t0 = time.time()

    def on_load(i, n):
        if i == n or i % 500 == 0:
            print(f"  features {i}/{n} ({time.time() - t0:.0f} s)", flush=True)

    def on_epoch(epoch, epochs, logs):
        print(f"  epoch {epoch}/{epochs} loss {logs['loss']:.4f} ({time.time() - t0:.0f} s)",
              flush=True)

    recipe = dict(C.DEFAULT_TRAINING)
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    if args.passes is not None:
        recipe["epochs"] = max(1, -(-args.passes // len(rows)))
        print(f"  {recipe['epochs']} epochs for about {args.passes} file passes", flush=True)
    if args.program_weight is not None:
        recipe["program_weight"] = args.program_weight
    members = C.SHIPPED_MEMBERS if args.members is None else args.members
    cfg = dict(C.DEFAULT_CONFIG)
    net = {"members": members} if args.width is None else {"members": members,
                                                            "width": args.width}
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    variants, keep = cached_variants([r["path"] for r in rows], cfg, cache, on_load)
    rows = [rows[i] for i in keep]
    encoder = C.train(variants=variants, labels=[r["class"] for r in rows],
                      groups=[r["source"] for r in rows],
                      programs=[program_of(r["source"]) for r in rows], seed=args.seed,
                      progress=on_epoch, config=net, **recipe)
    encoder.save(args.out)
    print(f"saved {encoder.model_id} to {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
