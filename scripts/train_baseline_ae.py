#!/usr/bin/env python3
"""Train the original autoencoder (ORIGIN.md, engine.model.autoencoder) on the dev corpus's
training parts, for the baseline row of docs/quality.md.

usage: python3 scripts/train_baseline_ae.py CORPUS_DIR OUT_DIR [--parts train,val] [--seed 0]

Same split and parts as scripts/train_default.py (engine.evaluate.split_sources, seed 0; train
and val, never test); ORIGIN's recipe:
10 epochs, batch 32, Adam, MSE, 80/20 train/validation.  About 30-60 min on two busy cores.
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
    p.add_argument("out")
    p.add_argument("--parts", default="train,val")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from engine.evaluate import training_rows
    from engine.model import autoencoder
    from engine.training import load_features
    from engine.features import mel_image

    try:
        paths = [r["path"] for r in training_rows(args.corpus, args.parts,
                                                  split_seed=args.split_seed)]
    except ValueError as exc:
        p.error(str(exc))
    t0 = time.time()
    images, _ = load_features(paths, mel_image)
    print(f"{len(paths)} images ({time.time() - t0:.0f} s)", flush=True)
    encoder, _ = autoencoder.train(
        images, seed=args.seed,
        on_epoch=lambda e, n, logs: print(f"  epoch {e}/{n} {logs} ({time.time() - t0:.0f} s)",
                                          flush=True))
    encoder.save(args.out)
    print(f"saved {encoder.model_id} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
