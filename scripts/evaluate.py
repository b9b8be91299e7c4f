#!/usr/bin/env python3
"""Score encoders on a labelled corpus through the daemon's code path: `soundalike evaluate`.

usage: python3 scripts/evaluate.py CORPUS_DIR [--model NAME=MODEL_DIR ...] [--mfcc]
                                   [--split test] [--gallery all|split] [--seed 0]
                                   [--lead SECONDS] [--json OUT.json]

Without --model the shipped default (engine/models/default) is scored.  --mfcc adds the
MFCC-statistics baseline.  Prints a Markdown table (the one in docs/quality.md).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
