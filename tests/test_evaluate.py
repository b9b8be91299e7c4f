import csv
import os

import pytest

from engine.evaluate import (EvaluationError, evaluate, format_report, read_labels, score,
                             paired_difference, source_interval, split_sources)
from tests.audiogen import kick, noise_burst, tone, write


def _rows():
    rows = []
    for cls, n_src in (("kick", 5), ("snare", 3), ("piano", 2), ("bass", 8)):
        for s in range(n_src):
            for k in range(3):
                rows.append({"path": f"{cls}{s}_{k}.wav", "class": cls,
                             "source": f"{cls}:{s}", "origin": "x"})
    return rows


def test_split_is_by_source_deterministic_and_covers_every_class():
    rows = _rows()
    a, b = split_sources(rows, seed=3), split_sources(rows, seed=3)
    assert a == b and set(a.values()) == {"train", "val", "test"}
    assert set(a) == {r["source"] for r in rows}  # one part per source: never straddles
    for cls in ("kick", "snare", "piano", "bass"):
        parts = {a[r["source"]] for r in rows if r["class"] == cls}
        assert "test" in parts and "train" in parts
    assert split_sources(rows, seed=4) != a


def test_score_matches_hand_computed_metrics():
    labels = {
        "q": {"class": "kick", "source": "k1", "origin": "drums"},
        "a": {"class": "kick", "source": "k1", "origin": "drums"},
        "b": {"class": "kick", "source": "k2", "origin": "drums"},
        "c": {"class": "snare", "source": "s1", "origin": "drums"},
        "d": {"class": "snare", "source": "s2", "origin": "drums"},
    }
    res = score(labels, {"q": ["a", "c", "b", "d"]}, ["q"])
    r = res["all"]
    assert r["n"] == 1 and res["drums"]["n"] == 1
    assert r["P@1"] == 1.0 and r["P@5"] == pytest.approx(2 / 5)
    assert r["mAP@10"] == pytest.approx((1 + 2 / 3) / 2)
    assert r["P@5 xsrc"] == pytest.approx(1 / 5)  # 'a' (same source) removed: c, b, d
    assert r["src@1"] == 1.0
    assert res["classes"] == {"kick": pytest.approx(0.4)} and res["missing"] == 0


def test_source_interval_resamples_whole_sources():
    # one source's queries all score 1, the other's all 0: every resample mean is a share of
    # whole sources, so with two sources of equal size only 0, 0.5 and 1 can occur
    srcs = ["a"] * 5 + ["b"] * 5
    vals = [1.0] * 5 + [0.0] * 5
    low, high = source_interval(srcs, vals)
    assert (low, high) == (0.0, 1.0)
    assert source_interval(srcs, vals) == [low, high]               # deterministic
    assert source_interval(["a"] * 3, [0.2, 0.4, None]) == [pytest.approx(0.3)] * 2
    assert source_interval(["a"], [None]) is None
    # many sources of one value each: the interval narrows around the mean as they grow
    few = source_interval([str(i) for i in range(10)], [i % 2 for i in range(10)])
    many = source_interval([str(i) for i in range(1000)], [i % 2 for i in range(1000)])
    assert few[0] < many[0] < 0.5 < many[1] < few[1]


def test_score_reports_intervals_around_the_means():
    labels = {f"{c}{s}{k}": {"class": c, "source": f"{c}{s}", "origin": "drums"}
              for c in ("kick", "snare") for s in range(3) for k in range(2)}
    # each query gets its own class first, then the other class
    results = {q: sorted(labels, key=lambda r: (labels[r]["class"] != labels[q]["class"], r))
               for q in labels}
    res = score(labels, results, list(labels))
    for g in ("all", "drums"):
        for m in ("P@5", "P@5 xsrc"):
            low, high = res[g]["interval"][m]
            assert low - 1e-9 <= res[g][m] <= high + 1e-9


def test_paired_difference_and_its_report():
    labels = {f"{c}{s}{k}": {"class": c, "source": f"{c}{s}", "origin": o}
              for c, o in (("kick", "drums"), ("pad", "melodic")) for s in range(4)
              for k in range(2)}
    good = {q: sorted(labels, key=lambda r: (labels[r]["class"] != labels[q]["class"], r))
            for q in labels}
    bad = {q: sorted(labels, key=lambda r: (labels[r]["class"] == labels[q]["class"], r))
           for q in labels}
    a, b = score(labels, bad, list(labels)), score(labels, good, list(labels))
    d = paired_difference(a, b, "P@5")
    assert d["mean"] == pytest.approx(b["all"]["P@5"] - a["all"]["P@5"]) and d["mean"] > 0
    assert d["interval"][0] <= d["mean"] + 1e-9 and d["interval"][1] >= d["mean"] - 1e-9
    assert paired_difference(a, b, "P@5", group="drums")["mean"] == pytest.approx(
        b["drums"]["P@5"] - a["drums"]["P@5"])
    assert paired_difference(b, a, "P@5")["mean"] == pytest.approx(-d["mean"])
    report = {"corpus": "c", "split": "test", "n_queries": 16, "seed": 0, "gallery": "all",
              "n_gallery": 16, "k": 30, "results": {"good": b, "bad": a}}
    text = format_report(report)
    assert "good minus each other encoder" in text
    assert f"| bad | all | {d['mean']:+.3f} (" in text


def _synth_corpus(corpus, sounds, *, sources, extra=()):
    """A labelled corpus in ``corpus``: ``sources`` instruments per class, two layers each;
    ``sounds`` maps class -> (origin, make(source, layer) -> audio).  The ``extra`` rows
    (file name, class, source, origin) are listed in labels.csv as they are."""
    rows = [(write(corpus / f"{cls}{s}{k}.wav", make(s, k)).name, cls, f"{cls}:{s}", origin)
            for cls, (origin, make) in sounds.items() for s in range(sources) for k in range(2)]
    with open(corpus / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "class", "source", "origin"])
        w.writerows([*rows, *extra])


def test_missing_labels_file_is_a_clear_error(tmp_path):
    with pytest.raises(EvaluationError, match="labels.csv"):
        read_labels(tmp_path)


def test_evaluate_through_the_library(tmp_path):
    """A tiny synthesized labelled corpus, indexed and queried with the MFCC encoder."""
    from engine.model.mfcc import MfccEncoder

    corpus = tmp_path / "corpus"
    _synth_corpus(corpus, {"tone": ("melodic", lambda s, k: tone(200 + 60 * s + 5 * k)),
                           "noise": ("drums", lambda s, k: noise_burst(10 * s + k)),
                           "kick": ("drums", lambda s, k: kick(45 + 5 * s + k))}, sources=3)
    report = evaluate(corpus, encoders={"mfcc": MfccEncoder()}, split="test", seed=0,
                      work_dir=tmp_path)
    res = report["results"]["mfcc"]
    assert report["n_queries"] == 6 and report["n_gallery"] == 18 and res["missing"] == 0
    assert res["all"]["P@1"] >= 0.5 and 0.0 <= res["all"]["P@5 xsrc"] <= 1.0
    assert "| mfcc | all | 6 |" in format_report(report)
    low, high = res["all"]["interval"]["P@5 xsrc"]
    assert low - 1e-9 <= res["all"]["P@5 xsrc"] <= high + 1e-9
    assert f"| mfcc | all | {res['all']['interval']['P@5'][0]:.3f}-" in format_report(report)
    only = evaluate(corpus, encoders={"mfcc": MfccEncoder()}, gallery="split", work_dir=tmp_path)
    assert only["n_gallery"] == 6
    # the same queries asked as copies with a pause before the sound: the pause is skipped,
    # so the ranking is that of the files themselves (the originals count as the queries)
    padded = evaluate(corpus, encoders={"mfcc": MfccEncoder()}, lead=0.5, work_dir=tmp_path)
    assert padded["results"]["mfcc"]["all"] == res["all"] and padded["lead"] == 0.5
    assert "0.5 s of silence" in format_report(padded)
    assert list(tmp_path.glob("soundalike-*")) == []  # copies and data dirs cleaned up
    with pytest.raises(EvaluationError):
        evaluate(corpus, encoders={"mfcc": MfccEncoder()}, lead=-1.0, work_dir=tmp_path)


def test_missing_and_unreadable_listed_files_score_zero_and_do_not_stop_the_run(tmp_path):
    from engine.model.mfcc import MfccEncoder

    corpus = tmp_path / "corpus"
    _synth_corpus(corpus, {"tone": ("x", lambda s, k: tone(200 + 90 * s + 7 * k)),
                           "kick": ("x", lambda s, k: kick(45 + 9 * s + k))}, sources=2,
                  extra=[("gone.wav", "tone", "tone:9", "x"), ("bad.wav", "kick", "kick:9", "x")])
    (corpus / "bad.wav").write_text("not audio")
    said = []
    report = evaluate(corpus, encoders={"mfcc": MfccEncoder()}, split="all",
                      work_dir=tmp_path, progress=said.append)
    res = report["results"]["mfcc"]
    assert report["n_queries"] == 10 and res["missing"] == 2 and res["all"]["n"] == 10
    assert res["queries"][str(corpus / "gone.wav")]["P@5"] == 0.0
    assert any("2 queries could not be asked" in m and "gone.wav" in m for m in said)
    text = format_report(report)
    assert "queries without results (files missing or not audio; scored 0): mfcc 2" in text
    assert "| mfcc | x | 10 |" in text                  # an origin other than drums/melodic


def _labels_csv(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "class", "source", "origin"])
        w.writerows(rows)
    return folder


def test_program_of_names_soundfont_programs_and_keys_only():
    from engine.evaluate import program_of

    assert program_of("timgm6mb:prog024") == program_of("a320u:prog024") == "prog024"
    assert program_of("generaluser-kits:key38") == "key38"
    for other in ("hydrogen:GMRockKit:Snare", "sonicpi:tabla_ghe", "lmms:drums/snare03",
                  "x:program1", "x:keyboard", "prog024x"):
        assert program_of(other) is None


def test_training_rows_add_extra_corpus_less_the_programs_held_out(tmp_path):
    from engine.evaluate import training_rows

    # dev corpus: four GM programs per class (dealt to test, val and train), one kit source
    dev = [(f"d{c}{p}.wav", c, f"timgm6mb:prog{p:03d}", "melodic")
           for c, progs in (("piano", (0, 1, 2, 3, 4)), ("organ", (16, 17, 18, 19, 20)))
           for p in progs] + [("k.wav", "kick", "hydrogen:Kit:Kick", "drums")] * 1
    corpus = _labels_csv(tmp_path / "dev", dev)
    extra_rows = [(f"x{p}{sf}.wav", c, f"{sf}:prog{p:03d}", "melodic")
                  for c, progs in (("piano", (0, 1, 2, 3, 4)), ("organ", (16, 17, 18, 19, 20)))
                  for p in progs for sf in ("a320u", "generaluser")]
    extra_rows += [("l.wav", "kick", "lmms:drums/kick01", "drums")]
    extra = _labels_csv(tmp_path / "extra", extra_rows)
    part = split_sources(read_labels(corpus))
    for parts, allowed in (("train", {"train"}), ("train,val", {"train", "val"})):
        rows = training_rows(corpus, parts, extra=[extra])
        dev_rows = [r for r in rows if r["path"].startswith(str(corpus))]
        assert {part[r["source"]] for r in dev_rows} == allowed
        extra_progs = {r["source"].split(":")[1] for r in rows
                       if r["path"].startswith(str(extra)) and "prog" in r["source"]}
        # an extra program is used exactly when its dev program is in the training parts
        assert extra_progs == {s.split(":")[1] for s, p in part.items()
                               if p in allowed and "prog" in s}
        assert any(r["source"] == "lmms:drums/kick01" for r in rows)
        assert all(os.path.isabs(r["path"]) for r in rows)
    assert len(training_rows(corpus, "train")) == sum(
        1 for r in read_labels(corpus) if part[r["source"]] == "train")
    with pytest.raises(ValueError, match="test"):
        training_rows(corpus, "train,test", extra=[extra])
