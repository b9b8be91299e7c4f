#!/usr/bin/env python3
"""Fit a model's calibrated similarity on the dev corpus and store it in the model folder.

usage: python3 scripts/calibrate.py CORPUS_DIR --model MODEL_DIR [--split val[,train] | --all]
                                    [--check CORPUS_DIR:SPLIT] [--k 30] [--dry-run]

Every query of the named split(s) of the dev corpus (never test), or with --all every file of
CORPUS_DIR (a corpus the model never trained on: for the shipped model, which trained on the
dev corpus's train and validation parts, build-extra-corpus's), asks for its --k most similar
files through the daemon's code path (whole-corpus gallery, as `soundalike evaluate` does);
the pairs should be of instruments the model never saw, or the map is overconfident.  Each
(query, result)
pair is labelled "same class" or not, and engine.calibration.fit learns the monotone map from
the cosine score to P(same class), written to MODEL_DIR/calibration.json (not with
--dry-run).  Prints the fitted points and, for thresholds 0.5 / 0.8 / 0.9, how many pairs
reach them and their share of the query's class on the fitted pairs and, with --check, on
another corpus's split's pairs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pairs(corpus: str, model_dir: str, split: str, k: int) -> tuple[list, list]:
    from engine.evaluate import evaluate

    res = evaluate(corpus, encoders={"m": model_dir}, split=split, k=k,
                   progress=lambda m: print(m, file=sys.stderr))["results"]["m"]
    return res["pairs"]["score"], res["pairs"]["same"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("--model", required=True, metavar="MODEL_DIR")
    p.add_argument("--split", default="val", help="comma-separated: train, val (never test)")
    p.add_argument("--all", action="store_true",
                   help="every file of CORPUS_DIR is a query (a corpus never trained on)")
    p.add_argument("--check", default=None, metavar="CORPUS_DIR:SPLIT",
                   help="also report the precision on these pairs (not fitted on)")
    p.add_argument("--k", type=int, default=30, help="results per query (default 30)")
    p.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    splits = ["all"] if args.all else [s.strip() for s in args.split.split(",") if s.strip()]
    if not args.all and (not splits or not set(splits) <= {"train", "val"}):
        p.error("--split names train and/or val (the calibration is never fitted on test)")

    from engine import calibration as C
    from engine.evaluate import THRESHOLDS

    scores, same = [], []
    for split in splits:
        s, y = pairs(args.corpus, args.model, split, args.k)
        scores += s
        same += y
    cal = C.fit(scores, same)
    cal["fitted_on"] = {"corpus": os.path.basename(os.path.abspath(args.corpus)),
                        "split": ",".join(splits), "k": args.k}
    print(f"fitted on {len(scores)} pairs ({sum(same)} of one class) of the {','.join(splits)} "
          f"queries' top {args.k}; {len(cal['x'])} points")
    print("| cosine | " + " | ".join(f"{x:.3f}" for x in cal["x"][::4]) + " |")
    print("| P(same class) | " + " | ".join(f"{y:.3f}" for y in cal["y"][::4]) + " |")
    checks = [(",".join(splits), scores, same)]
    if args.check:
        corpus, _, split = args.check.rpartition(":")
        if not corpus or split not in ("train", "val", "test", "all"):
            p.error("--check wants CORPUS_DIR:SPLIT")
        checks.append((args.check, *pairs(corpus, args.model, split, args.k)))
    for name, s, y in checks:
        for row in C.precision_above(s, y, cal, THRESHOLDS):
            prec = "-" if row["precision"] is None else f"{row['precision']:.3f}"
            print(f"{name}: similarity >= {row['threshold']:g}: {row['pairs']} pairs, "
                  f"{prec} of the query's class")
    if not args.dry_run:
        print(f"wrote {C.save(args.model, cal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
