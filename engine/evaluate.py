"""Retrieval quality on a labelled corpus, measured through the daemon's own code path.

``evaluate(corpus_dir, encoders={...})`` indexes the corpus (``labels.csv`` as written by
``build-dev-corpus``) into a temporary data dir with :class:`engine.service.Library` for each
encoder, asks :meth:`Library.similar` for the top results of every file of one split, and scores
them like ``shared/eval/metrics.py``: P@1, P@5, P@10, mAP@10, cross-source P@5 and src@1, for all
queries, drums and melodic, and P@5 per class.

The split is by ``source`` (a kit instrument or a GM program never straddles two parts), dealt
per class with a fixed seed: see :func:`split_sources`.  By default the gallery is the whole
corpus and the queries are the test files (a user's library holds sounds the model was trained
on as well as new ones; the query is always unseen); ``gallery="split"`` restricts the gallery to
the query split, which leaves only a handful of same-class files from other sources per query.
"""
from __future__ import annotations

import csv
import os
import random
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from . import calibration
from .model.base import Encoder
from .errors import EngineError

METRICS = ("P@1", "P@5", "P@10", "mAP@10", "P@5 xsrc", "src@1")
#: resamples of the bootstrap intervals (:func:`source_interval`)
RESAMPLES = 2000
PARTS = ("train", "val", "test")
#: calibrated-similarity thresholds whose precision the report gives
THRESHOLDS = (0.5, 0.8, 0.9)
#: a soundfont source's last part: a GM program or percussion key (:func:`program_of`)
_PROGRAM = re.compile(r"(prog\d{3}|key\d{2,3})")


class EvaluationError(EngineError):
    """The corpus cannot be evaluated (no labels.csv, unknown split)."""


def training_rows(corpus_dir: str | os.PathLike, parts: str, *, split_seed: int = 0,
                  extra: Sequence[str | os.PathLike] = ()) -> list[dict]:
    """The labelled rows of the corpus in the named split ``parts`` ("train", "train,val"),
    then the rows of each ``extra`` corpus (a training-only corpus in the same format, e.g.
    ``build-extra-corpus``'s) except those that could leak into a measurement: an extra source
    with the same GM program or percussion key (:func:`program_of`) as a dev-corpus source
    outside ``parts`` (soundfonts share samples: A320U and GeneralUser with TimGM6mb).

    Raises ValueError for the test part: nothing is ever trained on it.
    """
    wanted = {s.strip() for s in parts.split(",") if s.strip()}
    if "test" in wanted:
        raise ValueError("never train on the test part")
    rows = read_labels(corpus_dir)
    part = split_sources(rows, seed=split_seed)
    out = [r for r in rows if part[r["source"]] in wanted]
    held = {program_of(s) for s, p in part.items() if p not in wanted} - {None}
    for folder in extra:
        out += [r for r in read_labels(folder) if program_of(r["source"]) not in held]
    return out


def program_of(source: str) -> str | None:
    """The GM program or percussion key a soundfont source renders (``prog024``, ``key38``),
    the same across soundfonts (``timgm6mb:prog024``, ``a320u:prog024``,
    ``generaluser-kits:key38``); None for other sources (a kit or library sample)."""
    name = source.rsplit(":", 1)[-1]
    return name if _PROGRAM.fullmatch(name) else None


def read_labels(corpus_dir: str | os.PathLike) -> list[dict]:
    """Rows of ``labels.csv`` (``path, class, source, origin``), ``path`` made absolute."""
    corpus_dir = Path(corpus_dir)
    try:
        with open(corpus_dir / "labels.csv", newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = set(reader.fieldnames or ())
    except FileNotFoundError:
        raise EvaluationError(f"{corpus_dir}: no labels.csv (build it with build-dev-corpus)") \
            from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"{corpus_dir / 'labels.csv'}: not a readable CSV file "
                              f"({exc})") from None
    missing = {"path", "class", "source", "origin"} - columns
    if missing:
        raise EvaluationError(f"{corpus_dir / 'labels.csv'}: missing columns "
                              + ", ".join(sorted(missing)))
    if not rows:
        raise EvaluationError(f"{corpus_dir / 'labels.csv'}: lists no files")
    blank = [str(i + 2) for i, r in enumerate(rows)
             if not all((r.get(c) or "").strip() for c in ("path", "class", "source"))]
    if blank:
        raise EvaluationError(f"{corpus_dir / 'labels.csv'}: empty fields on line"
                              f"{'s' if len(blank) > 1 else ''} {_first(blank, 5, ', ')}")
    for r in rows:
        r["path"] = os.path.abspath(corpus_dir / r["path"])
    return rows


def _first(items: Sequence[str], n: int, sep: str) -> str:
    """The first ``n`` of ``items`` joined by ``sep``, then "..." when there are more."""
    return sep.join(items[:n]) + (f"{sep}..." if len(items) > n else "")


def split_sources(rows: Iterable[Mapping], *, seed: int = 0, val: float = 0.2,
                  test: float = 0.2) -> dict[str, str]:
    """Assign every source to ``train``, ``val`` or ``test``: -> {source: part}.

    For each class (sorted), its sources (sorted, then shuffled with ``random.Random(seed)``)
    are dealt: ``max(1, round(n * test))`` to test, then ``round(n * val)`` to val (at least one
    when the class has 3 sources or more), the rest to train.
    """
    by_class: dict[str, set] = defaultdict(set)
    for r in rows:
        by_class[r["class"]].add(r["source"])
    rng = random.Random(seed)
    part: dict[str, str] = {}
    for cls in sorted(by_class):
        sources = sorted(by_class[cls])
        rng.shuffle(sources)
        n = len(sources)
        n_test = max(1, round(n * test))
        n_val = max(1 if n >= 3 else 0, round(n * val))
        for i, s in enumerate(sources):
            part[s] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return part


# -- scoring (the logic of shared/eval/metrics.py, with a query subset) -------------------

def score_query(query: str, results: list[str], labels: Mapping[str, Mapping],
                class_sizes: Mapping[str, int], source_sizes: Mapping[str, int]) -> dict:
    """Metrics of one query; ``results`` are keys of ``labels`` ranked best first."""
    cls, src = labels[query]["class"], labels[query]["source"]
    seen, ranked = {query}, []
    for r in results:
        if r not in seen:
            seen.add(r)
            ranked.append(r)
    rel = [labels.get(r, {}).get("class") == cls for r in ranked]
    cross = [labels.get(r, {}).get("class") == cls for r in ranked
             if labels.get(r, {}).get("source") != src]
    hits, ap = 0, 0.0
    for i, is_rel in enumerate(rel[:10]):
        if is_rel:
            hits += 1
            ap += hits / (i + 1)
    n_rel = min(10, class_sizes[cls] - 1)
    same_src = [labels.get(r, {}).get("source") == src for r in ranked[:1]]
    return {"P@1": sum(rel[:1]) / 1, "P@5": sum(rel[:5]) / 5,
            "P@10": sum(rel[:10]) / 10, "mAP@10": ap / n_rel if n_rel else 0.0,
            "P@5 xsrc": sum(cross[:5]) / 5,
            "src@1": float(any(same_src)) if source_sizes[src] > 1 else None}


def source_interval(sources: Sequence[str], values: Sequence[float | None], *,
                    level: float = 0.95, resamples: int = RESAMPLES,
                    seed: int = 0) -> list[float] | None:
    """A percentile-bootstrap interval ``[low, high]`` for the mean of ``values`` (one per
    query; None values left out, as in the mean), resampling the queries' ``sources`` with
    replacement: the notes or layers of one instrument are not independent queries, so they
    move together.  None when no value is left.  Pure and deterministic for one ``seed``."""
    import numpy as np

    by: dict[str, list[float]] = defaultdict(list)
    for src, v in zip(sources, values):
        if v is not None:
            by[src].append(float(v))
    if not by:
        return None
    sums = np.array([sum(v) for v in by.values()])
    counts = np.array([len(v) for v in by.values()], dtype=float)
    pick = np.random.default_rng(seed).integers(0, len(sums), size=(resamples, len(sums)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    return [float(np.percentile(means, tail)), float(np.percentile(means, 100.0 - tail))]


def score(labels: Mapping[str, Mapping], results: Mapping[str, list[str]],
          queries: Iterable[str]) -> dict:
    """Mean metrics over ``queries``: ``{"all"|origin: {metric: value, "n": count,
    "interval": {metric: [low, high]}}, "classes": {class: P@5}, "missing": count}``, the
    intervals 95 % bootstrap ones over the queries' sources (:func:`source_interval`).
    ``labels`` is the whole gallery."""
    class_sizes: dict[str, int] = defaultdict(int)
    source_sizes: dict[str, int] = defaultdict(int)
    for lab in labels.values():
        class_sizes[lab["class"]] += 1
        source_sizes[lab["source"]] += 1
    queries = sorted(queries)
    scored = {q: dict(score_query(q, results.get(q, []), labels, class_sizes, source_sizes),
                      source=labels[q]["source"], origin=labels[q]["origin"])
              for q in queries}
    groups: dict[str, list] = defaultdict(list)
    per_class: dict[str, list] = defaultdict(list)
    for q, s in scored.items():
        groups["all"].append(s)
        groups[s["origin"]].append(s)
        per_class[labels[q]["class"]].append(s["P@5"])

    def mean(vals):
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else 0.0

    out: dict = {g: dict({m: mean(s[m] for s in ss) for m in METRICS}, n=len(ss),
                         interval={m: source_interval([s["source"] for s in ss],
                                                      [s[m] for s in ss]) for m in METRICS})
                 for g, ss in groups.items()}
    out["classes"] = {c: sum(v) / len(v) for c, v in sorted(per_class.items())}
    out["missing"] = sum(q not in results for q in queries)
    out["queries"] = scored
    return out


def add_pairs(pairs: Mapping[str, list], query: str, results: Iterable, labels: Mapping
              ) -> None:
    """Append to ``pairs`` (``{"score": [...], "same": [...]}``) the cosine of each of
    ``query``'s results (best first; the query itself left out) and whether it is of the
    query's class: what a calibration is fitted and checked on (engine/calibration.py)."""
    cls = labels[query]["class"]
    for r in results:
        if r.path != query:
            pairs["score"].append(round(r.score, 6))
            pairs["same"].append(labels.get(r.path, {}).get("class") == cls)


def paired_difference(a: Mapping, b: Mapping, metric: str, *,
                      group: str = "all") -> dict | None:
    """How much better ``b`` scores than ``a`` (two :func:`score` results over the same
    queries) on ``metric``: ``{"mean": ..., "interval": [low, high]}``, the interval a 95 %
    bootstrap over the queries' sources with both encoders' scores resampled together (so
    it is narrower than the two intervals apart suggest).  None without common queries."""
    qa, qb = a.get("queries", {}), b.get("queries", {})
    common = [q for q in qa if q in qb and group in ("all", qa[q]["origin"])]
    diffs = [None if qa[q][metric] is None or qb[q][metric] is None
             else qb[q][metric] - qa[q][metric] for q in common]
    kept = [d for d in diffs if d is not None]
    if not kept:
        return None
    return {"mean": sum(kept) / len(kept),
            "interval": source_interval([qa[q]["source"] for q in common], diffs)}


# -- the evaluation run -------------------------------------------------------------------

def _as_encoder(spec) -> Encoder:
    if isinstance(spec, Encoder):
        return spec
    from .model.registry import load_encoder

    return load_encoder(spec)


def evaluate(corpus_dir: str | os.PathLike, *,
             encoders: Mapping[str, Encoder | str | os.PathLike] | None = None,
             split: str = "test", seed: int = 0, gallery: str = "all", k: int = 30,
             lead: float = 0.0, work_dir: str | os.PathLike | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """Index ``corpus_dir`` with each encoder and score the ``split`` files' top-``k`` results.

    encoders : name -> an :class:`Encoder` or a model directory (default: the shipped model).
    split : which part's files are the queries (``train``, ``val``, ``test``, or ``all``).
    gallery : ``all`` (every corpus file can be a result) or ``split`` (only the split's files).
    lead : when > 0, each query is a copy of its file with ``lead`` seconds of silence before
        it (written to a temporary folder), asked as a file outside the index; the original,
        which is in the gallery, counts as the query itself and is skipped like it.
    Returns ``{"corpus", "split", "seed", "gallery", "k", "n_queries", "results": {name:
    scores (see :func:`score`) plus "index_s" and "query_ms"}}``.
    """
    if split not in (*PARTS, "all"):
        raise EvaluationError(f"unknown split {split!r} (train, val, test or all)")
    if gallery not in ("all", "split"):
        raise EvaluationError(f"unknown gallery {gallery!r} (all or split)")
    if not lead >= 0:
        raise EvaluationError(f"lead must be 0 or more seconds, got {lead!r}")
    from .model.registry import PACKAGED_DEFAULT

    say = progress or (lambda msg: None)
    corpus_dir = os.path.abspath(corpus_dir)
    rows = read_labels(corpus_dir)
    part = split_sources(rows, seed=seed)
    in_split = [r for r in rows if split == "all" or part[r["source"]] == split]
    members = rows if gallery == "all" else in_split
    labels = {r["path"]: r for r in members}
    queries = [r["path"] for r in in_split]
    report = {"corpus": corpus_dir, "split": split, "seed": seed, "gallery": gallery, "k": k,
              "lead": lead, "n_queries": len(queries), "n_gallery": len(labels), "results": {}}
    with tempfile.TemporaryDirectory(prefix="soundalike-queries-", dir=work_dir) as copies:
        asked = _query_files(queries, lead, Path(copies), say)
        for name, spec in (encoders or {"default": PACKAGED_DEFAULT}).items():
            report["results"][name] = res = _run_encoder(
                name, _as_encoder(spec), corpus_dir, rows, labels, asked,
                gallery=gallery, k=k + (lead > 0), work_dir=work_dir, say=say)
            cal = calibration.load(spec) if not isinstance(spec, Encoder) else None
            if cal is not None:
                res["calibrated"] = calibration.precision_above(
                    res["pairs"]["score"], res["pairs"]["same"], cal, THRESHOLDS)
    return report


def _query_files(queries: list[str], lead: float, folder: Path,
                 say: Callable[[str], None]) -> dict[str, str]:
    """Query (an absolute corpus path) -> the file to ask with: itself, or a copy with
    ``lead`` s of silence before it."""
    if lead <= 0:
        return {q: q for q in queries}
    from .audio import write_with_lead

    say(f"writing {len(queries)} query copies with {lead:g} s of silence before the sound")
    asked = {}
    for i, q in enumerate(queries):
        asked[q] = str(folder / f"{i:06d}.wav")
        write_with_lead(q, asked[q], seconds=lead)
    return asked


def _run_encoder(name: str, encoder: Encoder, corpus_dir: str, rows: list, labels: Mapping,
                 asked: Mapping[str, str], *, gallery: str, k: int,
                 work_dir, say: Callable[[str], None]) -> dict:
    """Index the corpus with ``encoder`` in a temporary data dir, ask every query, score."""
    from .service import Library, QueryError

    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="soundalike-eval-", dir=work_dir) as tmp:
        lib = Library(Path(tmp) / "data", encoder=encoder)
        try:
            say(f"{name}: indexing {len(rows)} files")
            t0 = time.perf_counter()
            summary = lib.index([corpus_dir])
            index_s = time.perf_counter() - t0
            say(f"{name}: {summary.indexed} indexed, {summary.failed} failed; "
                f"querying {len(asked)} files")
            # a restricted gallery: ask for more and keep the gallery's files
            want = k if gallery == "all" else min(1000, len(rows))
            results, t0 = {}, time.perf_counter()
            pairs: dict[str, list] = {"score": [], "same": []}
            for q, path in asked.items():
                try:
                    got = [r for r in lib.similar(path, want) if r.path in labels][:k]
                except QueryError as exc:  # a listed file that is gone or not audio
                    failed[q] = str(exc)
                    continue
                results[q] = [r.path for r in got]
                add_pairs(pairs, q, got, labels)
            query_ms = (time.perf_counter() - t0) / max(len(asked), 1) * 1000
        finally:
            lib.close()
    if failed:
        say(f"{name}: {len(failed)} queries could not be asked and score 0, as "
            f"metrics.py scores a file without results: {_first(list(failed.values()), 3, '; ')}")
    scores = score(labels, results, list(asked))
    scores.update(index_s=round(index_s, 2), query_ms=round(query_ms, 3),
                  model_id=encoder.model_id, dim=encoder.dim, pairs=pairs)
    return scores


def _groups(res: Mapping) -> list[str]:
    """"all", then the origins (drums, melodic, or whatever labels.csv names) of one
    encoder's :func:`score` result."""
    return ["all"] + sorted({s["origin"] for s in res["queries"].values()})


def format_report(report: Mapping, *, per_class: bool = True) -> str:
    """A Markdown summary: one table of the metrics per encoder and group, then per-class P@5."""
    names = list(report["results"])
    lines = [f"corpus {report['corpus']}, queries: {report['split']} split "
             f"({report['n_queries']} files, seed {report['seed']}), gallery: "
             f"{report['gallery']} ({report['n_gallery']} files), top {report['k']}"
             + (f"; each query asked as a copy with {report['lead']:g} s of silence before it"
                if report.get("lead") else ""), "",
             "| encoder | group | n | " + " | ".join(METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for name in names:
        res = report["results"][name]
        for g in _groups(res):
            r = res[g]
            lines.append(f"| {name} | {g} | {r['n']} | "
                         + " | ".join(f"{r[m]:.3f}" for m in METRICS) + " |")
    gaps = [f"{n} {report['results'][n]['missing']}" for n in names
            if report["results"][n].get("missing")]
    if gaps:
        lines += ["", "queries without results (files missing or not audio; scored 0): "
                  + ", ".join(gaps)]
    shown, compared = ("P@5", "P@5 xsrc", "src@1"), ("P@5", "P@5 xsrc")
    lines += ["", f"95 % intervals (bootstrap over the queries' sources, {RESAMPLES:,} "
              "resamples; a source's files move together):", "",
              "| encoder | group | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]
    for name in names:
        res = report["results"][name]
        for g in _groups(res):
            iv = res[g].get("interval", {})
            lines.append(f"| {name} | {g} | " + " | ".join(
                f"{iv[m][0]:.3f}-{iv[m][1]:.3f}" if iv.get(m) else "-" for m in shown) + " |")
    if len(names) > 1:
        base = names[0]
        lines += ["", f"{base} minus each other encoder (95 % intervals, both encoders' "
                  "scores resampled together by source):", "",
                  "| encoder | group | " + " | ".join(compared) + " |",
                  "|---|---|" + "---|" * len(compared)]
        for name in names[1:]:
            for g in _groups(report["results"][name]):
                cells = []
                for m in compared:
                    d = paired_difference(report["results"][name], report["results"][base],
                                          m, group=g)
                    cells.append("-" if d is None else f"{d['mean']:+.3f} "
                                 f"({d['interval'][0]:+.3f} to {d['interval'][1]:+.3f})")
                lines.append(f"| {name} | {g} | " + " | ".join(cells) + " |")
    calibrated = [n for n in names if report["results"][n].get("calibrated")]
    if calibrated:
        lines += ["", "calibrated similarity (the model's calibration.json): of the "
                  "top results with a similarity of at least t, the share of the query's "
                  "class (pairs):", "",
                  "| encoder | " + " | ".join(f"t = {t:g}" for t in THRESHOLDS) + " |",
                  "|---|" + "---|" * len(THRESHOLDS)]
        for n in calibrated:
            lines.append(f"| {n} | " + " | ".join(
                "-" if c["precision"] is None else f"{c['precision']:.3f} ({c['pairs']})"
                for c in report["results"][n]["calibrated"]) + " |")
    if per_class and names:
        classes = sorted(set().union(*(report["results"][n]["classes"] for n in names)))
        lines += ["", "| class (P@5) | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(
                f"{report['results'][n]['classes'].get(c, float('nan')):.3f}" for n in names)
                + " |")
    return "\n".join(lines)
