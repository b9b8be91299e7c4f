"""The ``soundalike`` command line.  One place (``main``) turns errors into messages and exit codes.

Importing this module imports neither TensorFlow nor librosa: ``soundalike --help`` is instant.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import redirect_stdout as _redirect_stdout
from io import StringIO as _StringOut
from typing import Sequence

from .errors import UserError
from .text import json_text, printable

EXIT_OK, EXIT_USER, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # bad usage: exit 2 with argparse's message
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _bounded(convert, low: float, high: float, *, what: str, outside: str):
    """An argparse ``type``: ``convert(text)`` within ``low..high``, else a one-line error."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{outside}: {text}")
        return value
    return parse


_positive_int = _bounded(int, 1, float("inf"), what="a whole number", outside="must be at least 1")
_seconds = _bounded(float, 0.0, 60.0, what="a number of seconds", outside="must be 0 to 60 seconds")
_port = _bounded(int, 0, 65535, what="a port number", outside="not a port number")


def _list_name(text: str) -> str:
    """A result list's name (docs/osc.md, "Result lists"); "" for none."""
    import re

    if text and not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", text):
        raise argparse.ArgumentTypeError(
            f"not a list name: {text!r} (1 to 32 letters, digits, _ - .)")
    return text


def _weight(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ASPECT=WEIGHT, got {text!r}") from None


#: `soundalike train --help` (the numbers are checked against the engine by tests/test_training.py)
TRAIN_DESCRIPTION = """\
Train the encoder on your own samples, safely.

What happens:
  1. The folder names are the classes (kicks/, snares/, pads/ ...).  20 % of the files
     of every folder with 3 or more files are held back (the same ones every time).
  2. The active model is fine-tuned on the other files (20 epochs, learning rate 2e-4);
     with --from-scratch a new network is trained instead (60 epochs, learning rate 2e-3).
  3. The new model is saved beside the others, and both are scored on the held-back
     files: for each, the share of its 5 most similar files that are from its folder.
  4. The new model becomes active only if it scores better (with --activate, even if it
     does not).  Switching re-embeds the indexed files before it takes effect, so the
     index never goes empty; a running daemon does it in the background while the
     current model keeps answering (training itself runs beside the daemon).

Undo with `soundalike model use default` (the shipped model) or `soundalike model use
ID`; `soundalike model list` shows every model and its scores.
Needs at least 2 folders of 3 or more audio files."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR",
                        help="data folder (index, models, state); default: $SOUNDALIKE_DATA_DIR "
                             "or the per-user data folder")
    parser = _Parser(prog="soundalike",
                     description="Find samples that sound alike; answers DAWs over OSC.")
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("index", parents=[common], help="index folders once and exit")
    p.add_argument("folders", nargs="+", metavar="FOLDER")

    p = sub.add_parser("similar", parents=[common], help="the samples most similar to FILE")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-n", dest="count", type=_positive_int, default=10, metavar="K",
                   help="number of results (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per FILE per line")
    p.add_argument("--mode", help="weight one aspect only (see `soundalike status`)")
    p.add_argument("--weight", action="append", type=_weight, default=[],
                   metavar="ASPECT=W", help="weight of an aspect (repeatable)")
    p.add_argument("--local", action="store_true",
                   help="never ask a running daemon; work in this process")
    p.add_argument("--list", dest="list_name", default="", metavar="NAME", type=_list_name,
                   help="answer in the daemon's result list NAME (e.g. daw: TouchOSC and the "
                        "Max device show them); default: none, no one else's list changes")
    p.add_argument("--output", metavar="OUT",
                   help="write the --json lines to OUT (atomically, when done) instead of "
                        "standard output; a failure writes {\"error\": message}")

    # `soundalike select`: tell the daemon what the DAW has selected (the REAPER script does)
    p = sub.add_parser("select", parents=[common],
                       help="tell the running daemon which file the DAW has selected")
    p.add_argument("file", nargs="?", metavar="FILE", help="the selected file")
    p.add_argument("--clear", action="store_true", help="clear the selection instead")
    p.add_argument("--list", dest="list_name", default="daw", metavar="NAME", type=_list_name,
                   help="the result list to select in (default daw)")

    p = sub.add_parser("train", parents=[common], help="train the encoder on your samples",
                       description=TRAIN_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                   help="passes over your files (default: 20 when fine-tuning, 60 from "
                        "scratch)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train a new network instead of fine-tuning the active model")
    p.add_argument("--activate", action="store_true",
                   help="switch to the new model even when it scores worse than the current "
                        "one on the held-back files (default: only when it scores better)")
    p.add_argument("--kind", default=None,
                   help="model kind to train (default: the active model's kind when it can "
                        "be trained, else contrastive)")
    p.add_argument("--members", type=_positive_int, default=None, metavar="N",
                   help="contrastive: train N networks with different seeds and average them "
                        "(N times the training time; default: as many as the model being "
                        "fine-tuned has, the shipped one 3; from scratch 1)")

    p = sub.add_parser("model", help="list the models, switch between them, roll back")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    a = actions.add_parser("list", parents=[common], help="the models and which one is in use")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("use", parents=[common],
                           help="make a model active (re-embeds the indexed files first; "
                                "through the daemon when one runs)")
    a.add_argument("name", metavar="ID",
                   help="a model id from `soundalike model list` (a unique prefix will do), "
                        "or `default` for the shipped model")

    p = sub.add_parser("evaluate", help="score encoders on a labelled corpus (labels.csv)")
    p.add_argument("corpus", metavar="CORPUS_DIR")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="a model to score (repeatable; default: the shipped default)")
    p.add_argument("--mfcc", action="store_true", help="add the MFCC-statistics baseline")
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"),
                   help="which files are the queries (split by source; default test)")
    p.add_argument("--gallery", default="all", choices=("all", "split"),
                   help="what the queries search: the whole corpus or the split only")
    p.add_argument("--seed", type=int, default=0, help="the split's seed (default 0)")
    p.add_argument("--lead", type=_seconds, default=0.0, metavar="SECONDS",
                   help="ask with copies of the queries that have this much silence before "
                        "the sound (robustness to padded bounces; default 0: the files)")
    p.add_argument("--json", metavar="OUT", help="also write the full report here")
    p.add_argument("--runtime", choices=("auto", "onnx", "keras"), default=None,
                   help="what runs the networks: the ONNX export (auto: when the model has "
                        "one) or Keras (needs the train extra); sets SOUNDALIKE_RUNTIME")

    p = sub.add_parser("status", parents=[common], help="what is indexed, pending and failed")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", parents=[common],
                       help="the daemon: index and watch folders, answer OSC")
    p.add_argument("folders", nargs="*", metavar="FOLDER")
    p.add_argument("--osc-host", metavar="HOST", help="listen address (default 127.0.0.1)")
    p.add_argument("--osc-port", metavar="PORT", type=_port, help="OSC port (default 9000)")
    p.add_argument("--reply-port", metavar="PORT", type=_port,
                   help="send replies to this port instead of the request's source port")

    p = sub.add_parser("service", help="run `serve` as a background service at login")
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument("folders", nargs="*", metavar="FOLDER",
                   help="folders for the service's `serve` (install only)")
    p.add_argument("--data-dir", metavar="DIR")
    p.add_argument("--no-start", action="store_true",
                   help="write the service file only; do not enable or start it")
    return parser


def single_threaded_blas() -> None:
    """One BLAS thread (set before numpy loads).  Soundalike's matrix products are small
    (feature filter banks, one matrix-vector product per query); extra BLAS threads only spin
    against the encoder's threads, the other pipeline stage and the DAW.  Measured on a busy
    2-core machine: features 50 ms/file with OpenBLAS's default threads, 3.8 ms with one; exact
    search at 50k items 6-8 ms against 1 ms."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv: Sequence[str] | None = None) -> int:
    single_threaded_blas()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): exit quietly
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            return EXIT_OK
    except Exception as exc:  # the one place errors become messages
        if not is_user_error(exc):
            raise
        print(f"soundalike: {printable(_message(exc))}", file=sys.stderr)
        return EXIT_USER


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one a user can cause: the CLI's own (``UserError``), the engine's
    (``engine.EngineError``: missing files, bad audio, a full disk, a busy data dir, ...) or
    the operating system's.  The engine is only looked up if it was imported (``--help``
    never imports it)."""
    errors = sys.modules.get("engine.errors")
    return isinstance(exc, (UserError, OSError)) or (
        errors is not None and isinstance(exc, errors.EngineError))


def _message(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


# -- commands ---------------------------------------------------------------------------
def _library(args, **kwargs):
    from engine import Library

    from .paths import data_dir, model_override

    # a one-shot command searches exactly (milliseconds at 100,000 files): building or
    # reading the approximate index is the daemon's business
    kwargs.setdefault("approximate", False)
    return Library(data_dir(args.data_dir), model_dir=model_override(), **kwargs)


def _daemon_holds(ddir) -> bool:
    """Whether another process (a daemon, or an `index`) holds the data dir."""
    from engine.datadir import is_locked

    return is_locked(ddir)


def _refuse_system_folders(folders: list[str]) -> None:
    from engine.folders import check_folders

    refused = check_folders(folders)
    if refused:
        raise UserError("; ".join(why for _, why in refused))


def cmd_index(args) -> int:
    from engine import DataDirBusy
    from engine.datadir import DataDirLock, ensure_private_dir

    from .paths import data_dir

    folders = [os.path.abspath(f) for f in args.folders]
    for f in folders:
        if not os.path.isdir(f):
            raise UserError(f"no such folder: {f}")
    _refuse_system_folders(folders)
    ddir = ensure_private_dir(data_dir(args.data_dir))
    try:
        lock = DataDirLock(ddir).acquire()
    except DataDirBusy as exc:
        from .indexing import index_through_daemon

        summary = index_through_daemon(ddir, folders, holder=exc.pid,
                                       bar=ProgressBar("indexing") if sys.stderr.isatty()
                                       else None)
    else:
        try:
            lib = _library(args)
            bar = ProgressBar("indexing") if sys.stderr.isatty() else None
            try:
                summary = lib.index(folders, progress=bar.update if bar else None)
            finally:
                if bar:
                    bar.close()
                lib.close()
        finally:
            lock.release()
    for path, reason in summary.failures:
        print(f"failed: {printable(path)}: {printable(reason)}", file=sys.stderr)
    print(f"indexed {summary.indexed}, skipped {summary.unchanged} unchanged, "
          f"failed {summary.failed}, removed {summary.removed}")
    return EXIT_OK


def cmd_similar(args) -> int:
    if not args.output:
        return _similar(args)
    args.json = True
    out = _StringOut()
    try:
        with _redirect_stdout(out):
            status = _similar(args)
    except Exception as exc:
        _write_atomically(args.output, json_text({"error": _error_text(exc)}) + "\n")
        raise
    _write_atomically(args.output, out.getvalue())
    return status


def _error_text(exc: Exception) -> str:
    if isinstance(exc, UserError):
        return str(exc)
    return _message(exc) if isinstance(exc, OSError) else (str(exc) or type(exc).__name__)


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees all of it or nothing."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _similar(args) -> int:
    """Answers every FILE it can; one that cannot be answered is reported on stderr (and in
    the JSON output as ``"error"``), and the exit status is 1 after all."""
    weights = dict(args.weight)
    queries = [os.path.abspath(f) for f in args.files]
    answers: dict[str, list | str] = {}
    if not args.local:
        from .client import ask_daemon_each

        answers = ask_daemon_each(queries, args.count, data_dir_arg=args.data_dir,
                                  mode=args.mode, weights=weights,
                                  list_name=args.list_name) or {}
    missing = [q for q in queries if q not in answers]
    if missing:
        lib = _library(args, read_only=_daemon_holds(_data_dir(args)))
        try:
            for q in missing:
                try:
                    answers[q] = [(r.path, r.score, r.similarity) for r in
                                  lib.similar(q, args.count, mode=args.mode, weights=weights)]
                except Exception as exc:
                    if not is_user_error(exc):
                        raise
                    answers[q] = _message(exc)
        finally:
            lib.close()
    failed = 0
    for q in queries:
        results = answers[q]
        if isinstance(results, str):
            failed += 1
            print(f"soundalike: {printable(q)}: {printable(results)}", file=sys.stderr)
            if args.json:
                print(json_text({"query": q, "results": [], "error": results}), flush=True)
            continue
        if args.json:
            print(json_text({"query": q, "results": [
                {"path": p, "score": round(s, 6),
                 **({"similarity": round(sim, 4)} if sim is not None else {})}
                for p, s, sim in results]}), flush=True)
        else:
            print(printable(q))
            for rank, (p, s, sim) in enumerate(results, 1):
                shown = f"{sim:4.0%}  " if sim is not None else ""
                print(f"  {rank:3d}  {s:.3f}  {shown}{printable(p)}")
    return EXIT_USER if failed else EXIT_OK


def cmd_select(args) -> int:
    from .client import select_in_daemon

    if args.clear == bool(args.file):
        raise UserError("give the selected FILE, or --clear")
    path = ""
    if args.file:
        path = os.path.abspath(args.file)
        if not os.path.isfile(path):
            raise UserError(f"no such file: {path}")
    selected = select_in_daemon(path, data_dir_arg=args.data_dir, list_name=args.list_name)
    print(f"selected {printable(selected)}" if selected else "selection cleared")
    return EXIT_OK


def _data_dir(args):
    from .paths import data_dir

    return data_dir(args.data_dir)


def _scores(s: dict) -> str:
    return f"P@1 {s['P@1']:.3f}  P@5 {s['P@5']:.3f}  mAP@10 {s['mAP@10']:.3f}"


def _switch(args, ddir, name: str) -> dict:
    """Switch the active model (re-embedding first, the current model answering meanwhile),
    with a progress bar: through the running daemon when there is one (it is the data dir's
    only writer), else in this process, holding the data dir.  Returns ``{"name",
    "model_id", "reembedded", "unreadable", "daemon"}`` (``reembedded`` None when unknown).
    Raises UserError when another process (an ``index``) holds the data dir."""
    from engine import DataDirBusy
    from engine.datadir import DataDirLock, ensure_private_dir
    from engine.model.registry import ModelError, model_id_of
    from engine.switching import resolve, switch_model

    ddir = ensure_private_dir(ddir)
    try:
        name, model_dir = resolve(ddir, name)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    bar = ProgressBar("re-embedding") if sys.stderr.isatty() else None
    try:
        lock = DataDirLock(ddir).acquire()
    except DataDirBusy as exc:
        from .switch import use_model_through_daemon

        done = use_model_through_daemon(ddir, name, model_id_of(model_dir), holder=exc.pid,
                                        bar=bar)
        return {**done, "unreadable": 0, "daemon": True}
    try:
        done = switch_model(ddir, name, progress=bar.update if bar else None)
    finally:
        lock.release()
        if bar:
            bar.close()
    return {**done, "daemon": False}


def _reembedded(done: dict) -> str:
    n = done.get("reembedded")
    where = " by the daemon" if done.get("daemon") else ""
    return f"re-embedded {n} indexed files{where}" if n is not None else \
        f"the indexed files were re-embedded{where}"


def cmd_train(args) -> int:
    from engine.pipeline import scan
    from engine.datadir import ensure_private_dir
    from engine.models import active_model_dir
    from engine.switching import active_name
    from engine.training import TrainingError, train_checked

    from .paths import data_dir, model_override

    folders = [os.path.abspath(f) for f in args.folders]
    for f in folders:
        if not os.path.isdir(f):
            raise UserError(f"no such folder: {f}")
    _refuse_system_folders(folders)
    paths = list(scan(folders))
    ddir = data_dir(args.data_dir)
    current_dir = model_override() or active_model_dir(ddir)
    previous = active_name(ddir)
    print(f"training on {len(paths)} files", file=sys.stderr)
    bar = ProgressBar("reading") if sys.stderr.isatty() else None

    def on_epoch(epoch, epochs, logs):
        logs = dict(logs)
        member, members = logs.pop("member", None), logs.pop("members", None)
        parts = ", ".join(f"{k} {v:.5f}" for k, v in sorted(logs.items()))
        which = ""
        if member:  # the trainer counts the epochs of all networks: say this network's
            per = epochs // members
            epoch, epochs = epoch - (member - 1) * per, per
            which = f" (network {member} of {members})"
        print(f"epoch {epoch}/{epochs}{which}: {parts}", file=sys.stderr, flush=True)

    def on_load(done, total):
        if bar:
            bar.update(done, total)
            if done == total:
                bar.close()

    try:
        res = train_checked(paths, models_dir=ensure_private_dir(ddir / "models"),
                            current_dir=current_dir, kind=args.kind, epochs=args.epochs,
                            members=args.members, from_scratch=args.from_scratch,
                            on_epoch=on_epoch, on_load=on_load,
                            say=lambda m: print(m, file=sys.stderr, flush=True))
    except TrainingError as exc:
        raise UserError(str(exc)) from None
    n = res.new["n"]
    print(f"on the {n} held-back files (the share of each one's most similar files that are "
          "from its folder):")
    print(f"  current  {res.current_id:<28s} {_scores(res.current)}")
    print(f"  new      {res.name:<28s} {_scores(res.new)}")
    if not res.better and not args.activate:
        print(f"the new model does not score better than the current one: kept "
              f"{res.current_id}.  It is saved as {res.name}; `soundalike model use "
              f"{res.name}` switches to it anyway")
        return EXIT_OK
    if not res.better:
        print("the new model scores worse than the current one on the held-back files; "
              "--activate: switching to it anyway")
    done = _switch(args, ddir, res.name)
    print(f"now using {res.name} ({_reembedded(done)}); "
          f"`soundalike model use {previous}` switches back")
    if model_override():
        print("note: SOUNDALIKE_MODEL is set and overrides the active model",
              file=sys.stderr)
    return EXIT_OK


def cmd_model(args) -> int:
    from engine.switching import list_models

    from .paths import data_dir, model_override

    ddir = data_dir(args.data_dir)
    if args.action == "list":
        models = list_models(ddir)
        if args.json:
            print(json_text(models, indent=2))
            return EXIT_OK
        for m in models:
            info = m["info"]
            if m["name"] == "default":
                about = "the shipped model"
            else:
                how = "fine-tuned from " + info["fine_tuned_from"] \
                    if info.get("fine_tuned_from") else "trained from scratch"
                about = f"{how}" + (f", {info['trained_at']}" if info.get("trained_at") else "")
                if info.get("held_back_scores"):
                    was = info.get("compared_with", {})
                    about += (f"; held-back P@5 {info['held_back_scores']['P@5']:.3f} on "
                              f"{info['held_back_scores']['n']} files")
                    if was.get("scores"):
                        about += f" against {was['scores']['P@5']:.3f} for {was['model_id']}"
            print(f"{'*' if m['active'] else ' '} {m['name']:<28s} {m['kind']:<12s} {about}")
        return EXIT_OK
    done = _switch(args, ddir, args.name)
    print(f"now using {done['name']} ({done['model_id']}); {_reembedded(done)}"
          + (f", {done['unreadable']} could not be read and keep their old embedding"
             if done["unreadable"] else ""))
    if model_override():
        print("note: SOUNDALIKE_MODEL is set and overrides the active model", file=sys.stderr)
    return EXIT_OK


def cmd_status(args) -> int:
    from .client import daemon_status

    lib = _library(args, read_only=_daemon_holds(_data_dir(args)))
    try:
        info = lib.status()
        info["aspects"] = sorted(lib.aspects())
        info["failures"] = [{"path": p, "reason": r} for p, r in lib.catalog.failures()]
        info["folders"] = [{"path": r.path, "origin": r.origin} for r in lib.catalog.roots()]
    finally:
        lib.close()
    live = daemon_status(data_dir_arg=args.data_dir, storage=True)
    info["daemon"] = live is not None
    info["pending"] = live["pending"] if live else info.get("stale", 0)
    info["state"] = live["state"] if live else "stopped"
    info["problems"] = live.get("problems", []) if live else []
    info["storage"] = (live or {}).get("storage") or _storage(info["data_dir"])
    info["switching"] = live.get("switching") if live else None
    if args.json:
        print(json_text(info, indent=2))
        return EXIT_OK
    print(f"indexed  {info['indexed']}")
    print(f"pending  {info['pending']}")
    print(f"failed   {info['failed']}")
    print(f"offline  {info['offline']}")
    print(f"state    {info['state']}")
    for problem in info["problems"]:
        print(f"problem  {printable(problem)}")
    if info["storage"]["state"] != "writable":
        print(f"storage  {info['storage']['state']}: {printable(info['storage']['reason'])}")
    print(f"model    {info['model_id']}  ({printable(info['model_dir'])})")
    sw = info["switching"]
    if sw:
        print(f"switch   to {printable(sw['name'])}: {sw['done']}/{sw['total']} files "
              "re-embedded (the model above answers until it is done)")
    print(f"aspects  {', '.join(info['aspects'])}  (similar --mode ASPECT / --weight ASPECT=W)")
    print(f"data dir {printable(info['data_dir'])}")
    for f in info["folders"]:
        print(f"folder   {printable(f['path'])}  ({f['origin']})")
    for f in info["failures"]:
        print(f"failed: {printable(f['path'])}: {printable(f['reason'])}")
    return EXIT_OK


def _storage(data_dir: str) -> dict:
    """Whether the data dir can be written now (no daemon to ask): a probe file."""
    from engine.datadir import write_problem

    problem = write_problem(data_dir)
    return {"state": "read-only" if problem else "writable", "reason": problem or ""}


def cmd_evaluate(args) -> int:
    from engine.evaluate import evaluate, format_report
    from engine.model.registry import PACKAGED_DEFAULT

    if not os.path.isfile(os.path.join(args.corpus, "labels.csv")):
        raise UserError(f"no labels.csv in {args.corpus} (build one with "
                        "../shared/corpus/build-dev-corpus)")
    if args.runtime:
        os.environ["SOUNDALIKE_RUNTIME"] = args.runtime
    encoders: dict = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path:
            raise UserError(f"--model wants NAME=DIR, got {spec!r}")
        encoders[name] = path
    if not encoders:
        encoders["default"] = PACKAGED_DEFAULT
    if args.mfcc:
        from engine.model.mfcc import MfccEncoder

        encoders["mfcc"] = MfccEncoder()
    report = evaluate(args.corpus, encoders=encoders, split=args.split, seed=args.seed,
                      gallery=args.gallery, lead=args.lead,
                      progress=lambda m: print(m, file=sys.stderr))
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return EXIT_OK


def cmd_serve(args) -> int:
    from .app import serve

    return serve(args)


def cmd_service(args) -> int:
    from .autostart import service_command

    return service_command(args)


COMMANDS = {"index": cmd_index, "similar": cmd_similar, "select": cmd_select, "train": cmd_train,
            "model": cmd_model,
            "status": cmd_status, "serve": cmd_serve, "service": cmd_service,
            "evaluate": cmd_evaluate}


class ProgressBar:
    """A one-line progress bar on stderr (used only when stderr is a terminal)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width, self._shown = label, width, False

    def update(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{done}/{total}")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            self._shown = False
