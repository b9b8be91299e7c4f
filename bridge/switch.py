"""``soundalike model use`` (and ``train``'s switch) while a daemon runs: the daemon switches
(``/soundalike/model/use``), re-embedding in the background while the current model keeps
answering, and this command follows its pushes (``/soundalike/model/switching``) until the
new model answers (``/soundalike/model/used``).  Pushes may be lost (UDP), so it also asks
``/soundalike/model`` now and then: the switch is over when that names the new model."""
from __future__ import annotations

import time
from pathlib import Path

from .client import P
from .errors import UserError

#: how often the daemon is asked which model answers (pushes may be lost)
POLL = 0.5
#: the daemon is given up on after this long without a word from it
SILENCE = 30.0


def use_model_through_daemon(ddir: Path, name: str, model_id: str, *, holder: int | None = None,
                             bar=None) -> dict:
    """Have the daemon of ``ddir`` switch to model ``name`` (resolved: its id is
    ``model_id``); returns ``{"name", "model_id", "reembedded"}`` once it answers with it
    (``reembedded`` None when the final push was lost)."""
    from .indexing import _connect

    with _connect(ddir, holder, "switch models") as conn:
        conn.send(f"{P}/subscribe", conn.port)
        conn.wait(lambda m: m.address == f"{P}/subscribed", 5.0)
        try:
            conn.send(f"{P}/model/use", name)
            heard = time.monotonic()
            next_poll = heard + POLL
            while True:
                if time.monotonic() >= next_poll:
                    conn.send(f"{P}/model")
                    next_poll = time.monotonic() + POLL
                m = conn.wait(lambda m: True, POLL)
                if m is None:
                    if time.monotonic() - heard > SILENCE:
                        raise UserError("the daemon stopped answering during the switch; "
                                        "`soundalike status` tells whether it finished")
                    continue
                heard = time.monotonic()
                if m.address == f"{P}/error" and m.args[:1] == (f"{P}/model/use",):
                    raise UserError(str(m.args[1]) if len(m.args) > 1 else "switch refused")
                if m.address == f"{P}/model/switching" and m.tags == "ssii" and \
                        m.args[0] == name and bar is not None:
                    bar.update(int(m.args[2]), int(m.args[3]))
                elif m.address == f"{P}/model/used" and m.args[:1] == (name,):
                    return {"name": name, "model_id": str(m.args[1]),
                            "reembedded": int(m.args[2])}
                elif m.address == f"{P}/model" and m.tags == "ss" and \
                        tuple(m.args) == (name, model_id):
                    # the new model answers; its final push may still be on its way
                    late = conn.wait(lambda m: m.address == f"{P}/model/used"
                                     and m.args[:1] == (name,), POLL)
                    return {"name": name, "model_id": model_id,
                            "reembedded": int(late.args[2]) if late is not None else None}
        finally:
            conn.send(f"{P}/unsubscribe", conn.port)
            if bar is not None:
                bar.close()
