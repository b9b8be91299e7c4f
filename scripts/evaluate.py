#!/usr/bin/env python3
"""Score encoders on a labelled corpus through the daemon's code path (engine.evaluate).

usage: python3 scripts/evaluate.py CORPUS_DIR [--model NAME=MODEL_DIR ...] [--mfcc]
                                   [--split test] [--gallery all|split] [--seed 0]
                                   [--json OUT.json]

Without --model the shipped default (engine/models/default) is scored.  --mfcc adds the
MFCC-statistics baseline.  Prints a Markdown table (the one in docs/quality.md).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpus")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR")
    p.add_argument("--mfcc", action="store_true", help="add the MFCC-statistics baseline")
    p.add_argument("--split", default="test")
    p.add_argument("--gallery", default="all", choices=("all", "split"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the full report here")
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from engine.evaluate import evaluate, format_report
    from engine.model.registry import PACKAGED_DEFAULT

    encoders: dict = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path:
            p.error(f"--model wants NAME=DIR, got {spec!r}")
        encoders[name] = path
    if not encoders:
        encoders["default"] = PACKAGED_DEFAULT
    if args.mfcc:
        from engine.model.mfcc import MfccEncoder
        encoders["mfcc"] = MfccEncoder()
    report = evaluate(args.corpus, encoders=encoders, split=args.split, seed=args.seed,
                      gallery=args.gallery, progress=lambda m: print(m, file=sys.stderr))
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
