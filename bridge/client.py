"""Asking a running daemon (placeholder until the OSC bridge lands: no daemon is ever found)."""
from __future__ import annotations


def ask_daemon(queries, count, *, data_dir_arg=None, mode=None, weights=None):
    """Answers from a running daemon, or None when there is none."""
    return None


def daemon_status(*, data_dir_arg=None):
    return None
