#!/usr/bin/env python3
"""The swap at the end of a model switch: how long the catalog's write lock is held.

Fills a store with N rows embedded by model A (189 values each) and N embeddings by model B
kept beside them (what the switch's re-embedding leaves), then times ``Catalog.switch_to("B")``:
reading the rows as the swap will leave them, building the new search index (exact), and the
one store transaction.  Readers keep answering from the old index meanwhile; only catalog
writes (the indexer, folder add/remove) wait.  Also times ``Store.put_shadow`` for the N rows
(the re-embedding's writes, spread over its batches), and the slowest of the reads a query
for an indexed file does (its row, then the search), made over and over during the swap.

    python scripts/bench_switch.py --files 20000
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=189)
    args = ap.parse_args()
    from engine.catalog import Catalog
    from engine.index.store import FileStat, Store

    n, rng = args.files, np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        store = Store(d / "index.sqlite")
        stats = [FileStat(f"/lib/f{i}.wav", 1000 + i, i, f"fp{i}") for i in range(n)]
        store.put_embeddings(list(zip(stats, rng.standard_normal((n, args.dim),
                                                                 dtype=np.float32))), "A")
        t = time.perf_counter()
        store.put_shadow(list(zip(stats, rng.standard_normal((n, args.dim),
                                                             dtype=np.float32))), "B")
        kept = time.perf_counter() - t
        store.close()
        catalog = Catalog(d, "A", approximate=False)
        assert catalog.indexed_count() == n
        waits: list[float] = []
        done = threading.Event()

        def query() -> None:  # what a query for an indexed file reads, all along the swap
            q = rng.standard_normal(args.dim, dtype=np.float32)
            while not done.is_set():
                t0 = time.perf_counter()
                catalog.get("/lib/f7.wav")
                catalog.serving()[1].search(q, 10)
                waits.append(time.perf_counter() - t0)

        reader = threading.Thread(target=query)
        reader.start()
        t = time.perf_counter()
        catalog.switch_to("B", lambda: None)
        swap = time.perf_counter() - t
        done.set()
        reader.join()
        assert catalog.indexed_count() == n and catalog.model_id == "B"
        catalog.close()
    print(f"{n} files, dim {args.dim}: keeping the new embeddings {kept * 1000:.0f} ms "
          f"(all at once), the swap {swap * 1000:.0f} ms; {len(waits)} queries answered "
          f"during it, the slowest in {max(waits) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
