#!/usr/bin/env python3
"""Reproduce the shipped default model (engine/models/default) from the dev corpus.

usage: python3 scripts/train_default.py CORPUS_DIR [--out DIR] [--parts train,val]
                                        [--members N] [--epochs N] [--seed S] [--split-seed S]

CORPUS_DIR is built by ../shared/corpus/build-dev-corpus.  The corpus is split by source with
engine.evaluate.split_sources (seed 0); only the parts named by --parts are used for training
(never test; the shipped model: train and val, after every choice was made on val with models
trained on train alone), with class labels for the supervised-contrastive term and sources (kit
instrument, GM program) for the fine-detail term.  --members networks (seeds S, S+1, ...) are
trained one after the other and averaged.  Deterministic up to TensorFlow's thread scheduling.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("--out", default=str(ROOT / "engine" / "models" / "default"))
    p.add_argument("--parts", default="train,val", help="comma-separated: train, val")
    p.add_argument("--epochs", type=int, default=None, help="per member")
    p.add_argument("--members", type=int, default=None,
                   help="networks averaged (default: the shipped model's, "
                        "contrastive.SHIPPED_MEMBERS)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from engine.evaluate import training_rows
    from engine.model import contrastive as C

    try:
        rows = training_rows(args.corpus, args.parts, split_seed=args.split_seed)
    except ValueError as exc:
        p.error(str(exc))
    print(f"training on {len(rows)} files ({args.parts}, split seed "
          f"{args.split_seed})", flush=True)
    t0 = time.time()

    def on_load(i, n):
        if i == n or i % 200 == 0:
            print(f"  features {i}/{n}", flush=True)

    def on_epoch(epoch, epochs, logs):
        print(f"  epoch {epoch}/{epochs} loss {logs['loss']:.4f} ({time.time() - t0:.0f} s)",
              flush=True)

    kwargs = {} if args.epochs is None else {"epochs": args.epochs}
    members = C.SHIPPED_MEMBERS if args.members is None else args.members
    encoder = C.train([r["path"] for r in rows], labels=[r["class"] for r in rows],
                      groups=[r["source"] for r in rows], seed=args.seed, progress=on_epoch,
                      on_load=on_load, config={"members": members},
                      **{**C.DEFAULT_TRAINING, **kwargs})
    encoder.save(args.out)
    print(f"saved {encoder.model_id} to {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
