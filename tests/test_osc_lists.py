"""Result lists over real UDP: each list keeps its own selection, results and cursor, and its
pushes go to the subscribers that follow it; clients that choose none keep the old shared list."""
from __future__ import annotations

import pytest

from osc_helpers import Client, library_setup, no_leaked_threads, server  # noqa: F401

P = "/soundalike"


def _subscribe(ctl: Client, sub: Client, *list_name: str) -> None:
    ctl.send(f"{P}/subscribe", sub.port, 2, *list_name)
    ctl.expect(f"{P}/subscribed")
    sub.drain()


def test_lists_keep_results_cursor_and_pushes_apart(server, library_setup):
    samples = [str(p) for p in library_setup[2]]
    with Client(server.address) as daw, Client(server.address) as other, \
            Client(server.address) as daw_sub, Client(server.address) as other_sub:
        other.send(f"{P}/list", "reaper")
        assert other.expect(f"{P}/list").args == ("reaper",)
        _subscribe(daw, daw_sub)                 # follows the sender's list: daw
        _subscribe(daw, other_sub, "reaper")     # follows reaper, named

        daw.send(f"{P}/similar", samples[0], 3)
        _, daw_rows = daw.results()
        other.send(f"{P}/similar", samples[4], 3)
        _, other_rows = other.results()
        assert daw_rows != other_rows

        # each subscriber got its own list's results, slots and cursor, nothing of the other
        got = [m for m in daw_sub.drain() if m.address.startswith(f"{P}/result")]
        assert [m.args[1] for m in got if m.address == f"{P}/result"] == \
            [r[1] for r in daw_rows]
        got = [m for m in other_sub.drain() if m.address == f"{P}/result"]
        assert [m.args[1] for m in got] == [r[1] for r in other_rows]

        # cursors move independently
        other.send(f"{P}/cursor/next")
        assert other.expect(f"{P}/cursor").args[:2] == (2, other_rows[1][1])
        assert other_sub.expect(f"{P}/cursor").args[:2] == (2, other_rows[1][1])
        assert daw_sub.drain() == []
        daw.send(f"{P}/cursor/get")
        assert daw.expect(f"{P}/cursor").args[:2] == (1, daw_rows[0][1])

        # selections too: "find similar" without a path uses the client's list's selection
        daw.send(f"{P}/select", samples[2])
        daw.expect(f"{P}/selected")
        assert daw_sub.expect(f"{P}/selected").args == (samples[2],)
        other.send(f"{P}/selection")
        assert other.expect(f"{P}/selected").args == ("",)
        assert [m.address for m in other_sub.drain()] == []

        # going back to daw shares the daw list again
        other.send(f"{P}/list", "daw")
        assert other.expect(f"{P}/list").args == ("daw",)
        other.send(f"{P}/selection")
        assert other.expect(f"{P}/selected").args == (samples[2],)


def test_a_client_with_no_list_touches_no_one(server, library_setup):
    samples = [str(p) for p in library_setup[2]]
    with Client(server.address) as daw, Client(server.address) as cli, \
            Client(server.address) as sub:
        _subscribe(daw, sub)
        daw.send(f"{P}/similar", samples[0], 3)
        _, daw_rows = daw.results()
        sub.drain()
        cli.send(f"{P}/list", "")
        assert cli.expect(f"{P}/list").args == ("",)
        cli.send(f"{P}/similar", samples[5], 2)
        _, rows = cli.results()
        assert len(rows) == 2
        assert sub.drain() == []                 # nothing pushed, slots untouched
        daw.send(f"{P}/cursor/get")
        assert daw.expect(f"{P}/cursor").args[:2] == (1, daw_rows[0][1])
        cli.send(f"{P}/cursor/next")
        assert "no results yet" in cli.expect(f"{P}/error").args[1]
        cli.send(f"{P}/select", samples[1])
        assert "no result list" in cli.expect(f"{P}/error").args[1]
        cli.send(f"{P}/list")
        assert cli.expect(f"{P}/list").args == ("",)


def test_clients_that_choose_no_list_share_daw_as_before(server, library_setup):
    samples = [str(p) for p in library_setup[2]]
    with Client(server.address) as a, Client(server.address) as b:
        a.send(f"{P}/list")
        assert a.expect(f"{P}/list").args == ("daw",)
        a.send(f"{P}/similar", samples[0], 3)
        _, rows = a.results()
        b.send(f"{P}/cursor/next", 1.0)
        assert b.expect(f"{P}/cursor").args[:2] == (2, rows[1][1])


@pytest.mark.parametrize("name", ["has space", "x" * 33, "a/b", "é"])
def test_bad_list_names_are_refused(server, name):
    with Client(server.address) as c:
        c.send(f"{P}/list", name)
        assert c.expect(f"{P}/error").args[1].startswith("bad list name")
        c.send(f"{P}/subscribe", c.port, 0, name)
        assert c.expect(f"{P}/error").args[1].startswith("bad list name")
        c.send(f"{P}/list")
        assert c.expect(f"{P}/list").args == ("daw",)


def test_lists_are_bounded_and_followed_ones_are_kept(server):
    from bridge.routes import MAX_LISTS

    with Client(server.address) as c, Client(server.address) as sub:
        c.send(f"{P}/subscribe", sub.port, 0, "kept")
        c.expect(f"{P}/subscribed")
        for n in range(MAX_LISTS + 10):
            c.send(f"{P}/list", f"l{n}")
            assert c.expect(f"{P}/list").args == (f"l{n}",)
        lists = server.handlers._lists
        assert len(lists) == MAX_LISTS
        assert "daw" in lists and "kept" in lists and f"l{MAX_LISTS + 9}" in lists
