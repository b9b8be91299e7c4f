"""The OSC address table: every request address, its handler, its lane and what it accepts.

docs/osc.md is the reference for people; this table is the one for the server (and the tests
check that the two agree).

Lanes:
- ``inline``: cheap and never blocking (status, ping, cursor, ...): handled at once on the
  receiving thread, so they stay answered while queries queue up.
- ``query``: a similarity query; it goes to the *fast* worker when the file is indexed (no
  encoder needed) and to the *slow* worker when it must be embedded first, so a query for an
  indexed file never waits behind one that needs the model.
- ``slow``: library management that may take time (folder add/remove, rescan, starting a
  model switch): slow worker.
"""
from __future__ import annotations

from dataclasses import dataclass

PREFIX = "/soundalike"

#: the cap on the number of results of one query (larger counts are answered with this many)
MAX_COUNT = 100
DEFAULT_COUNT = 10
#: the cap on per-rank slot addresses a subscriber may ask for
MAX_SLOTS = MAX_COUNT
#: the cap on subscribers, all hosts together and from one host (this machine is one host)
MAX_SUBSCRIBERS = 32
#: the result list that the DAW's selection, its companions and controllers share by default
DEFAULT_LIST = "daw"
#: the cap on result lists kept (the least recently used one nobody follows is forgotten)
MAX_LISTS = 64
MAX_SUBSCRIBERS_PER_HOST = 16
#: a subscription ends this many seconds after the last /soundalike/subscribe for its port
#: (subscribing again renews it), at /soundalike/unsubscribe, or at a restart
SUBSCRIPTION_TTL = 3600.0


@dataclass(frozen=True)
class Route:
    address: str
    handler: str          # the method of bridge.handlers.Handlers that serves it
    lane: str             # "inline" | "query" | "slow"
    accepts: str          # the accepted argument lists, for error messages and docs
    local_only: bool = False  # refused to remote (non-loopback) clients


ROUTES: dict[str, Route] = {r.address: r for r in [
    Route(f"{PREFIX}/similar", "similar", "query",
          "none, ,i count, ,s path, ,si path count or ,sis path count mode "
          "(then optional aspect/weight pairs ,sf ...)"),
    Route(f"{PREFIX}/status", "status", "inline", "no arguments"),
    Route(f"{PREFIX}/problems", "problems", "inline", "no arguments", local_only=True),
    Route(f"{PREFIX}/storage", "storage", "inline", "no arguments"),
    Route(f"{PREFIX}/reply_to", "reply_to", "inline", ",i port (0 forgets it)"),
    Route(f"{PREFIX}/select", "select", "inline", ",s path (\"\" clears the selection)"),
    Route(f"{PREFIX}/selection", "selection_get", "inline", "no arguments"),
    Route(f"{PREFIX}/similarity", "similarity", "inline",
          ",i 1 or ,i 0 (or T/F): results with the calibrated similarity, or without"),
    Route(f"{PREFIX}/list", "list_choose", "inline",
          "no arguments or ,s name (\"\" for none: answers to this client only)"),
    Route(f"{PREFIX}/subscribe", "subscribe", "inline",
          ",i port, ,ii port slots or ,iis port slots list"),
    Route(f"{PREFIX}/unsubscribe", "unsubscribe", "inline", ",i port"),
    Route(f"{PREFIX}/cursor/next", "cursor_next", "inline",
          "no arguments or one number (0 is ignored: a button release)"),
    Route(f"{PREFIX}/cursor/prev", "cursor_prev", "inline",
          "no arguments or one number (0 is ignored: a button release)"),
    Route(f"{PREFIX}/cursor/pick", "cursor_pick", "inline", ",i rank (or a whole ,f rank)"),
    Route(f"{PREFIX}/cursor/get", "cursor_get", "inline", "no arguments"),
    Route(f"{PREFIX}/folder/add", "folder_add", "slow", ",s path", local_only=True),
    Route(f"{PREFIX}/folder/remove", "folder_remove", "slow", ",s path", local_only=True),
    Route(f"{PREFIX}/folders", "folders", "inline", "no arguments"),
    Route(f"{PREFIX}/rescan", "rescan", "slow", "no arguments"),
    Route(f"{PREFIX}/model", "model_get", "inline", "no arguments"),
    Route(f"{PREFIX}/model/use", "model_use", "slow", ",s id (a model id, or default)",
          local_only=True),
    Route(f"{PREFIX}/ping", "ping", "inline", "any arguments (echoed)"),
    Route(f"{PREFIX}/paths", "paths", "inline", "no arguments or ,s form (bytes or uri)"),
]}
