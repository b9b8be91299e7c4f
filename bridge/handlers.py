"""The OSC handlers: decode and check arguments, call the backend, reply.  Thin on purpose.

``Handlers`` also holds the little protocol state the extension needs: the result lists (each
a selection, the last results and the cursor over them; see :class:`ResultList`), which list
each client uses, subscribers, and reply ports registered with ``/soundalike/reply_to``.  It never touches a socket: it is given a ``send(dest, address,
*args)`` function, so the tests can drive it without the network.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from engine import EngineError

from .routes import (DEFAULT_COUNT, DEFAULT_LIST, MAX_COUNT, MAX_LISTS, MAX_SLOTS,
                     MAX_SUBSCRIBERS, MAX_SUBSCRIBERS_PER_HOST, PREFIX,
                     SUBSCRIPTION_TTL, Route)
from .fileuri import BadURI, from_uri, is_uri, to_uri
from .osc_wire import typed
from .text import printable
from .trust import TrustPolicy

Dest = tuple  # a socket address: (host, port) or (host, port, flowinfo, scope_id)
Send = Callable[..., None]

#: reply ports remembered (least recently used forgotten first): a flood cannot grow memory
MAX_REPLY_PORTS = 1024
#: /soundalike/model/use requesters remembered until the switch ends (the oldest forgotten)
MAX_SWITCH_WAITERS = 64

ERROR = f"{PREFIX}/error"

#: a result list's name: 1 to 32 letters, digits, ``_``, ``-`` or ``.``
LIST_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class RequestError(EngineError):
    """A request that cannot be served; the message is sent back as is."""


@dataclass(frozen=True)
class Request:
    address: str
    tags: str
    args: tuple
    sender: Dest          # where the datagram came from
    local: bool = True    # from this machine (loopback or the bound address)


@dataclass(frozen=True)
class Query:
    path: str
    count: int
    mode: str | None = None
    weights: tuple[tuple[str, float], ...] = ()


def wrong(route: Route, req: Request) -> RequestError:
    got = "," + req.tags if req.tags else "no arguments"
    return RequestError(f"wrong arguments: expected {route.accepts}; got {got}")


def _port(value: Any, *, zero_ok: bool = False) -> int:
    if not (0 if zero_ok else 1) <= value <= 65535:
        raise RequestError(f"port out of range: {value} (1..65535)")
    return value


_UNSET = object()  # _set_per_client: forget the client's setting


def _set_per_client(settings: OrderedDict, key: tuple, value: Any) -> None:
    """Set (or, with ``_UNSET``, forget) one client's setting, keeping at most
    ``MAX_REPLY_PORTS`` clients: the least recently set is forgotten first."""
    if value is _UNSET:
        settings.pop(key, None)
        return
    settings[key] = value
    settings.move_to_end(key)
    while len(settings) > MAX_REPLY_PORTS:
        settings.popitem(last=False)


def _number(tag: str, value: Any) -> float | None:
    """A numeric OSC argument as a float (None if ``tag`` is not a number type)."""
    if tag in "ihfd":
        return float(value)
    return None


def _check_path(path: str) -> str:
    """A path argument: absolute (a ``file://`` URI is read as the path it names, see
    bridge/fileuri.py), made normal."""
    if is_uri(path):
        try:
            path = from_uri(path)
        except BadURI as exc:
            raise RequestError(str(exc)) from None
    if not path:
        raise RequestError("empty path")
    if not os.path.isabs(path):
        raise RequestError(f"not an absolute path: {path}")
    return os.path.normpath(path)


#: the arguments that are paths, by reply or push address (all of them: None): what a client
#: that asked for ``/soundalike/paths ,s uri`` gets as ``file://`` URIs
PATH_ARGS: dict[str, tuple[int, ...] | None] = {
    f"{PREFIX}/results/begin": (0,), f"{PREFIX}/result": (1,), f"{PREFIX}/results/end": (0,),
    f"{PREFIX}/cursor": (1,), f"{PREFIX}/selected": (0,), f"{PREFIX}/indexed": (0,),
    f"{PREFIX}/removed": (0,), f"{PREFIX}/moved": (0, 1), f"{PREFIX}/offline": (0,),
    f"{PREFIX}/online": (0,), f"{PREFIX}/folders": None, f"{PREFIX}/folder": (0,),
    f"{PREFIX}/folder/added": (0,), f"{PREFIX}/folder/removed": (0,),
}
#: how a client gets paths: as the file name's bytes (the default), or as file:// URIs
PATH_FORMS = ("bytes", "uri")


def _as_uris(address: str, args: tuple) -> tuple:
    """A message's arguments for a client that gets paths as URIs: its paths as ``file://``
    URIs, and any other text holding bytes that are not UTF-8 (an error message that names
    such a file, a slot label) with those bytes written ``\\xNN``, so all it gets is UTF-8."""
    which = PATH_ARGS.get(address, ())
    out = []
    for i, a in enumerate(args):
        if isinstance(a, str) and a:
            if which is None or i in which:
                a = to_uri(a)
            elif not a.isascii():
                try:
                    a.encode("utf-8")
                except UnicodeEncodeError:
                    a = printable(a)
        out.append(a)
    return tuple(out)
def storage_of(status: dict) -> dict:
    """``{"state": "writable" | "read-only", "reason"}`` from a backend's status."""
    st = status.get("storage") or {}
    return {"state": str(st.get("state") or "writable"), "reason": str(st.get("reason") or "")}


def _label(path: str) -> str:
    """A result as people see it: its folder and file name (``kicks/boom.wav``)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    return "/".join(parts[-2:])


@dataclass
class ResultList:
    """One client group's state: the selection, the last results and the cursor over them."""
    name: str
    selection: str | None = None
    query: str | None = None
    results: list = field(default_factory=list)
    cursor: int | None = None  # index into results


class Handlers:
    """The request handlers and the protocol state (thread-safe)."""

    def __init__(self, backend, send: Send, *, reply_port: int | None = None,
                 logger: logging.Logger | None = None,
                 max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self.backend = backend
        self._deliver = send
        #: destinations (host, port) that get paths as file:// URIs (least recent first)
        self._uri_dests: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.reply_port = reply_port
        self.log = logger or logging.getLogger("soundalike.osc")
        self.max_subscribers = max_subscribers
        self._lock = threading.RLock()
        self._reply_ports: OrderedDict[tuple[str, int], int] = OrderedDict()
        self._subscribers: dict[Dest, int] = {}  # destination -> number of slots
        # result lists by name ("daw" always exists), least recently used first
        self._lists: OrderedDict[str, ResultList] = OrderedDict(
            [(DEFAULT_LIST, ResultList(DEFAULT_LIST))])
        # the list each client (host, source port) uses; "" = none (answers to it only)
        self._bindings: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._subscriber_lists: dict[Dest, str] = {}  # destination -> list it follows
        # destinations (host, port) whose result and cursor messages carry the calibrated
        # similarity (/soundalike/similarity ,i 1), least recently set first
        self._similarity: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._expires: dict[Dest, float] = {}     # destination -> when its subscription ends
        self.subscription_ttl = SUBSCRIPTION_TTL
        self.trust = TrustPolicy()  # who may query what (the server sets the config's paths)
        #: (destination, model name) of /soundalike/model/use requests waiting for the end
        self._switch_waiters: list[tuple[Dest, str]] = []

    @property
    def selection(self) -> str | None:
        """The DAW's selection (the "daw" list's)."""
        with self._lock:
            return self._lists[DEFAULT_LIST].selection

    # -- where things go ------------------------------------------------------------------
    def _send(self, dest: Dest, address: str, *args: Any) -> None:
        """Every message goes out here: in the form of paths its destination asked for."""
        if self._uri_dests and (dest[0], dest[1]) in self._uri_dests:
            args = _as_uris(address, args)
        self._deliver(dest, address, *args)

    def dest_for(self, sender: Dest) -> Dest:
        """The reply destination: reply_to port, else --reply-port, else the source port."""
        with self._lock:
            port = self._reply_ports.get((sender[0], sender[1]))
            if port is not None:
                self._reply_ports.move_to_end((sender[0], sender[1]))
        if port is None:
            port = self.reply_port or sender[1]
        return (sender[0], port) + tuple(sender[2:])

    def reply(self, req: Request, address: str, *args: Any) -> Dest:
        dest = self.dest_for(req.sender)
        self._send(dest, address, *args)
        return dest

    def error(self, sender: Dest, request_address: str, message: str) -> None:
        self._send(self.dest_for(sender), ERROR, request_address, message)

    def subscribers(self) -> dict[Dest, int]:
        with self._lock:
            return dict(self._subscribers)

    def push(self, address: str, *args: Any, skip: Dest | None = None,
             to_list: str | None = None) -> None:
        """Send to every subscriber (but ``skip``, who already got it as a reply); with
        ``to_list``, only to those that follow that result list."""
        for dest in self._followers(to_list):
            if dest != skip:
                self._send(dest, address, *args)

    def _followers(self, name: str | None) -> dict[Dest, int]:
        """Subscribers (destination -> slots), all of them or those following list ``name``."""
        with self._lock:
            return {d: n for d, n in self._subscribers.items()
                    if name is None or self._subscriber_lists.get(d, DEFAULT_LIST) == name}

    # -- result lists ---------------------------------------------------------------------
    def _list(self, name: str) -> ResultList:
        """The list called ``name``, made if need be (the lock is held)."""
        rl = self._lists.get(name)
        if rl is not None:
            self._lists.move_to_end(name)
            return rl
        if len(self._lists) >= MAX_LISTS:
            followed = set(self._subscriber_lists.values()) | {DEFAULT_LIST}
            victim = next((n for n in self._lists if n not in followed), None)
            if victim is None:
                raise RequestError(f"too many result lists ({MAX_LISTS})")
            del self._lists[victim]
        rl = self._lists[name] = ResultList(name)
        return rl

    def list_name(self, sender: Dest) -> str:
        """The list a client uses: the one it chose with /soundalike/list, else "daw"."""
        with self._lock:
            return self._bindings.get((sender[0], sender[1]), DEFAULT_LIST)

    def _client_list(self, req: Request) -> ResultList | None:
        """The request's list (None: the client keeps its results to itself).  Lock held."""
        name = self._bindings.get((req.sender[0], req.sender[1]), DEFAULT_LIST)
        return self._list(name) if name else None

    # -- dispatch -------------------------------------------------------------------------
    def handle(self, route: Route, req: Request, query: Query | None = None) -> None:
        """Serve one request; every failure becomes a /soundalike/error reply, never raises."""
        try:
            if route.local_only and not req.local:
                raise RequestError("not allowed from a remote client")
            method = getattr(self, route.handler)
            if route.lane == "query":
                method(route, req, query if query is not None else self.prepare_query(route, req))
            else:
                method(route, req)
        except EngineError as exc:  # what a user can cause (RequestError is one): say why
            self.error(req.sender, req.address, str(exc) or "cannot be served")
        except Exception as exc:  # the daemon never dies of a request
            self.log.exception("OSC %s from %s failed", req.address, req.sender[:2])
            self.error(req.sender, req.address,
                       f"internal error ({type(exc).__name__}); see the daemon log")

    # -- queries --------------------------------------------------------------------------
    def prepare_query(self, route: Route, req: Request) -> Query:
        """Check a query's arguments (raises RequestError); the path is absolute and normal."""
        tags, args = req.tags, req.args
        mode, weights = None, []
        if tags in ("", "i", "h"):
            with self._lock:
                rl = self._client_list(req)
                path = rl.selection if rl is not None else None
            if path is None:
                raise RequestError("no selection: send /soundalike/select ,s path first "
                                   "(or give a path)")
            count = args[0] if tags else DEFAULT_COUNT
        elif tags == "s":
            path, count = args[0], DEFAULT_COUNT
        elif len(tags) >= 2 and tags[0] == "s" and tags[1] in "ih":
            path, count = args[0], args[1]
            rest_tags, rest = tags[2:], args[2:]
            if rest_tags:
                if rest_tags[0] != "s":
                    raise wrong(route, req)
                mode = rest[0] or None
                rest_tags, rest = rest_tags[1:], rest[1:]
            if len(rest_tags) % 2:
                raise wrong(route, req)
            for i in range(0, len(rest_tags), 2):
                value = _number(rest_tags[i + 1], rest[i + 1])
                if rest_tags[i] != "s" or value is None:
                    raise wrong(route, req)
                weights.append((rest[i], value))
        else:
            raise wrong(route, req)
        if count < 1:
            raise RequestError(f"count must be at least 1 (got {count})")
        count = min(count, MAX_COUNT)
        path = _check_path(path)
        if mode == "default":
            mode = None
        if not self.trust.may_query(self.backend, path, req.sender, req.local):
            raise RequestError(f"not allowed: {path} is not in the library")
        return Query(path, count, mode, tuple(weights))

    def similar(self, route: Route, req: Request, q: Query) -> None:
        results = self.backend.similar(q.path, q.count, mode=q.mode,
                                       weights=dict(q.weights) or None)
        results = [r for r in results[:q.count]
                   if r.path != q.path and math.isfinite(r.score)]
        dest = self.dest_for(req.sender)
        with self._lock:  # kept before the answer goes out: a cursor request may follow it
            rl = self._client_list(req)
            if rl is not None:
                rl.query, rl.results = q.path, results
                rl.cursor = 0 if results else None
        self._send_results(dest, q.path, results)
        if rl is None:
            return  # a client with no list: its answer went to it alone
        subs = self._followers(rl.name)
        for sub, slots in subs.items():
            if sub != dest:
                self._send_results(sub, q.path, results)
            self._send_slots(sub, slots, results)
            if results:
                self._send(sub, *self._cursor_message(sub, 0, results))

    def _send_results(self, dest: Dest, query: str, results: Sequence) -> None:
        self._send(dest, f"{PREFIX}/results/begin", query, len(results))
        with_sim = self._wants_similarity(dest)
        for rank, r in enumerate(results, 1):
            self._send(dest, f"{PREFIX}/result", *self._result_args(rank, r, with_sim))
        self._send(dest, f"{PREFIX}/results/end", query, len(results))

    @staticmethod
    def _result_args(rank: int, r, with_similarity: bool) -> tuple:
        """``rank path score``, and the calibrated similarity for a destination that asked
        for it (when the model has one)."""
        if with_similarity and r.similarity is not None:
            return rank, r.path, float(r.score), float(r.similarity)
        return rank, r.path, float(r.score)

    def _wants_similarity(self, dest: Dest) -> bool:
        with self._lock:
            return (dest[0], dest[1]) in self._similarity

    def similarity(self, route: Route, req: Request) -> None:
        """/soundalike/similarity ,i 1|0 (or T/F): whether the result and cursor messages sent
        to this sender's reply destination carry the calibrated similarity (``,isff``)."""
        if len(req.tags) != 1 or req.tags not in "ifTF":
            raise wrong(route, req)
        on = _number(req.tags, req.args[0]) != 0 if req.tags in "if" else req.tags == "T"
        dest = self.dest_for(req.sender)
        key = (dest[0], dest[1])
        with self._lock:
            _set_per_client(self._similarity, key, None if on else _UNSET)
        self._send(dest, f"{PREFIX}/similarity", 1 if on else 0)

    def _send_slots(self, dest: Dest, slots: int, results: Sequence) -> None:
        for n in range(1, slots + 1):
            if n <= len(results):
                r = results[n - 1]
                self._send(dest, f"{PREFIX}/slot/{n}", _label(r.path), float(r.score))
            else:
                self._send(dest, f"{PREFIX}/slot/{n}", "", 0.0)

    # -- status, ping, reply ports ----------------------------------------------------------
    def status(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        st = self.backend.status()
        dest = self.reply(req, f"{PREFIX}/status", int(st["indexed"]), int(st["pending"]),
                          str(st["state"]))
        switching = self._switching()
        if switching is not None:  # a second message: the contract's ,iis stays as it is
            self._send(dest, *self._switching_message(switching))

    # -- the model --------------------------------------------------------------------------
    def _switching(self) -> dict | None:
        get = getattr(self.backend, "switching", None)
        return get() if get is not None else None

    @staticmethod
    def _switching_message(sw: dict) -> tuple:
        return (f"{PREFIX}/model/switching", str(sw["name"]), str(sw["model_id"]),
                int(sw["done"]), int(sw["total"]))

    def model_get(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        if not hasattr(self.backend, "model"):
            raise RequestError("this daemon cannot tell its model")
        m = self.backend.model()
        switching = self._switching()
        dest = self.dest_for(req.sender)
        if switching is not None:  # first, so that a client waiting for the reply has it
            self._send(dest, *self._switching_message(switching))
        self._send(dest, f"{PREFIX}/model", str(m["name"]), str(m["model_id"]))

    def model_use(self, route: Route, req: Request) -> None:
        if req.tags != "s":
            raise wrong(route, req)
        if not req.args[0]:
            raise RequestError("empty model id (`default` is the shipped model)")
        if not hasattr(self.backend, "use_model"):
            raise RequestError("this daemon cannot switch models")
        dest = self.dest_for(req.sender)
        with self._lock:  # before the switch starts: its end may come at once
            self._switch_waiters.append((dest, req.args[0]))
        try:
            started = self.backend.use_model(req.args[0])
        except BaseException:
            with self._lock:
                self._switch_waiters.remove((dest, req.args[0]))
            raise
        with self._lock:  # known by its resolved name from now on
            self._switch_waiters.remove((dest, req.args[0]))
            self._switch_waiters.append((dest, started["name"]))
            del self._switch_waiters[:-MAX_SWITCH_WAITERS]
        self._send(dest, f"{PREFIX}/model/use", str(started["name"]),
                   str(started["model_id"]))

    def problems(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        problems = [str(p) for p in self.backend.status().get("problems", ())]
        self.reply(req, f"{PREFIX}/problems", *problems)
    def storage(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        st = storage_of(self.backend.status())
        self.reply(req, f"{PREFIX}/storage", st["state"], st["reason"])

    def ping(self, route: Route, req: Request) -> None:
        self.reply(req, f"{PREFIX}/pong", *typed(req.tags, req.args))  # as received

    def reply_to(self, route: Route, req: Request) -> None:
        if req.tags not in ("i", "h"):
            raise wrong(route, req)
        port = _port(req.args[0], zero_ok=True)
        key = (req.sender[0], req.sender[1])
        with self._lock:
            _set_per_client(self._reply_ports, key, _UNSET if port == 0 else port)
        self.reply(req, f"{PREFIX}/reply_to", port)

    def paths(self, route: Route, req: Request) -> None:
        """/soundalike/paths ,s form: how paths reach the port this sender's replies go to."""
        if req.tags not in ("", "s"):
            raise wrong(route, req)
        dest = self.dest_for(req.sender)
        key = (dest[0], dest[1])
        with self._lock:
            if req.tags:
                form = req.args[0]
                if form not in PATH_FORMS:
                    raise RequestError(f"unknown path form: {printable(form)!r} "
                                       f"(bytes or uri)")
                _set_per_client(self._uri_dests, key, None if form == "uri" else _UNSET)
            form = "uri" if key in self._uri_dests else "bytes"
        self._send(dest, f"{PREFIX}/paths", form)

    # -- selection ------------------------------------------------------------------------
    def select(self, route: Route, req: Request) -> None:
        if req.tags != "s":
            raise wrong(route, req)
        path = _check_path(req.args[0]) if req.args[0] else ""
        if path and not self.trust.may_query(self.backend, path, req.sender, req.local):
            raise RequestError(f"not allowed: {path} is not in the library")
        with self._lock:
            rl = self._client_list(req)
            if rl is None:
                raise RequestError("this client uses no result list (/soundalike/list \"\"): "
                                   "choose one to select in")
            rl.selection = path or None
        dest = self.reply(req, f"{PREFIX}/selected", path)
        self.push(f"{PREFIX}/selected", path, skip=dest, to_list=rl.name)

    def selection_get(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        with self._lock:
            rl = self._client_list(req)
            path = (rl.selection if rl is not None else None) or ""
        self.reply(req, f"{PREFIX}/selected", path)

    def list_choose(self, route: Route, req: Request) -> None:
        """/soundalike/list ,s name: this client's later requests use that list."""
        if req.tags not in ("", "s"):
            raise wrong(route, req)
        key = (req.sender[0], req.sender[1])
        if req.tags:
            name = req.args[0]
            if name and not LIST_NAME.fullmatch(name):
                raise RequestError(f"bad list name: {name!r} (1 to 32 letters, digits, _ - .)")
            with self._lock:
                if name:
                    self._list(name)
                _set_per_client(self._bindings, key, _UNSET if name == DEFAULT_LIST else name)
        self.reply(req, f"{PREFIX}/list", self.list_name(req.sender))

    # -- subscriptions --------------------------------------------------------------------
    def subscribe(self, route: Route, req: Request) -> None:
        if req.tags not in ("i", "ii", "iis"):
            raise wrong(route, req)
        port = _port(req.args[0])
        slots = req.args[1] if len(req.args) > 1 else 0
        if not 0 <= slots <= MAX_SLOTS:
            raise RequestError(f"slots out of range: {slots} (0..{MAX_SLOTS})")
        name = req.args[2] if len(req.args) > 2 else (self.list_name(req.sender) or DEFAULT_LIST)
        if not LIST_NAME.fullmatch(name):
            raise RequestError(f"bad list name: {name!r} (1 to 32 letters, digits, _ - .)")
        dest = (req.sender[0], port) + tuple(req.sender[2:])
        with self._lock:
            if dest not in self._subscribers:
                if len(self._subscribers) >= self.max_subscribers:
                    raise RequestError(f"too many subscribers ({self.max_subscribers})")
                if sum(d[0] == dest[0] for d in self._subscribers) >= MAX_SUBSCRIBERS_PER_HOST:
                    raise RequestError(f"too many subscribers from {dest[0]} "
                                       f"({MAX_SUBSCRIBERS_PER_HOST})")
            rl = self._list(name)
            self._subscribers[dest] = slots
            self._subscriber_lists[dest] = name
            self._expires[dest] = time.monotonic() + self.subscription_ttl
            results, cursor = list(rl.results), rl.cursor
        self.reply(req, f"{PREFIX}/subscribed", port, slots)
        # bring the new subscriber up to date: its labels and the cursor
        self._send_slots(dest, slots, results)
        if cursor is not None:
            self._send(dest, *self._cursor_message(dest, cursor, results))

    def unsubscribe(self, route: Route, req: Request) -> None:
        if req.tags != "i":
            raise wrong(route, req)
        port = _port(req.args[0])
        dest = (req.sender[0], port) + tuple(req.sender[2:])
        with self._lock:
            self._subscriber_lists.pop(dest, None)
            self._expires.pop(dest, None)
            if self._subscribers.pop(dest, None) is None:
                raise RequestError(f"not subscribed: port {port}")
        self.reply(req, f"{PREFIX}/unsubscribed", port)

    def expire_subscriptions(self, now: float | None = None) -> int:
        """Forget subscriptions not renewed within their time to live; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            gone = [d for d, t in self._expires.items() if t <= now]
            for d in gone:
                self._expires.pop(d, None)
                self._subscribers.pop(d, None)
                self._subscriber_lists.pop(d, None)
        return len(gone)

    # -- the cursor over the last results -------------------------------------------------
    def _cursor_message(self, dest: Dest, index: int, results: Sequence) -> tuple:
        return (f"{PREFIX}/cursor",
                *self._result_args(index + 1, results[index], self._wants_similarity(dest)))

    def _results_of(self, req: Request) -> ResultList:
        """The request's list, which must hold results (lock held)."""
        rl = self._client_list(req)
        if rl is None or rl.query is None:
            raise RequestError("no results yet: query with /soundalike/similar first")
        if not rl.results:
            raise RequestError(f"the last query found nothing: {rl.query}")
        return rl

    def _move(self, req: Request, to: Callable[[int, int], int]) -> None:
        with self._lock:
            rl = self._results_of(req)
            rl.cursor = to(rl.cursor or 0, len(rl.results))
            cursor, results = rl.cursor, list(rl.results)
        dest = self.dest_for(req.sender)
        self._send(dest, *self._cursor_message(dest, cursor, results))
        for sub in self._followers(rl.name):
            if sub != dest:
                self._send(sub, *self._cursor_message(sub, cursor, results))

    def _trigger(self, route: Route, req: Request) -> bool:
        """No argument, or one number (a controller button: 0 = released, ignored)."""
        if not req.tags:
            return True
        if len(req.tags) == 1 and _number(req.tags, req.args[0]) is not None:
            return req.args[0] != 0
        if req.tags in ("T", "F"):
            return req.args[0]
        raise wrong(route, req)

    def cursor_next(self, route: Route, req: Request) -> None:
        if self._trigger(route, req):
            self._move(req, lambda i, n: min(i + 1, n - 1))

    def cursor_prev(self, route: Route, req: Request) -> None:
        if self._trigger(route, req):
            self._move(req, lambda i, n: max(i - 1, 0))

    def cursor_pick(self, route: Route, req: Request) -> None:
        value = _number(req.tags, req.args[0]) if len(req.tags) == 1 else None
        if value is None or not math.isfinite(value) or value != int(value):
            raise wrong(route, req)
        rank = int(value)

        def to(i: int, n: int) -> int:
            if not 1 <= rank <= n:
                raise RequestError(f"no result at rank {rank} (1..{n})")
            return rank - 1

        self._move(req, to)

    def cursor_get(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        with self._lock:
            rl = self._results_of(req)
            cursor, results = rl.cursor or 0, list(rl.results)
        dest = self.dest_for(req.sender)
        self._send(dest, *self._cursor_message(dest, cursor, results))

    # -- the library ----------------------------------------------------------------------
    def folders(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        folders = self.backend.folder_origins()
        dest = self.reply(req, f"{PREFIX}/folders", *[f["path"] for f in folders])
        for f in folders:  # then one message per folder: where it came from, whether online
            self._send(dest, f"{PREFIX}/folder", f["path"], f["origin"],
                       "online" if f["online"] else "offline")

    def folder_add(self, route: Route, req: Request) -> None:
        if req.tags != "s":
            raise wrong(route, req)
        path = _check_path(req.args[0])
        self.backend.add_folder(path)
        self.reply(req, f"{PREFIX}/folder/added", path)

    def folder_remove(self, route: Route, req: Request) -> None:
        if req.tags != "s":
            raise wrong(route, req)
        path = _check_path(req.args[0])
        self.backend.remove_folder(path)
        self.reply(req, f"{PREFIX}/folder/removed", path)

    def rescan(self, route: Route, req: Request) -> None:
        if req.tags:
            raise wrong(route, req)
        self.backend.rescan()
        self.reply(req, f"{PREFIX}/rescan", 1)

    # -- pushes from the backend ----------------------------------------------------------
    def on_event(self, event: str, args: tuple) -> None:
        """Push an indexing event to subscribers (called from the server's pusher thread)."""
        if event in ("indexed", "removed"):
            self.push(f"{PREFIX}/{event}", str(args[0]))
        elif event == "moved":
            self.push(f"{PREFIX}/moved", str(args[0]), str(args[1]))
        elif event in ("offline", "online"):
            self.push(f"{PREFIX}/{event}", str(args[0]))
        elif event == "progress":
            self.push(f"{PREFIX}/progress", int(args[0]), int(args[1]), str(args[2]))
        elif event == "storage":
            self.push(f"{PREFIX}/storage", str(args[0]), str(args[1]))
        elif event == "switch-progress":
            self.push(f"{PREFIX}/model/switching", str(args[0]), str(args[1]), int(args[2]),
                      int(args[3]))
        elif event in ("switched", "switch-failed"):
            name = str(args[0])
            with self._lock:
                waiting = [d for d, n in self._switch_waiters if n == name]
                self._switch_waiters = [(d, n) for d, n in self._switch_waiters if n != name]
            if event == "switched":
                msg = (f"{PREFIX}/model/used", name, str(args[1]), int(args[2]))
            else:
                msg = (ERROR, f"{PREFIX}/model/use", str(args[2]))
            for dest in dict.fromkeys(waiting):
                self._send(dest, *msg)
            if event == "switched":
                for dest in self._followers(None):
                    if dest not in waiting:
                        self._send(dest, *msg)
        else:
            self.log.debug("unknown backend event %r", event)
