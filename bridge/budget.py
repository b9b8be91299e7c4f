"""The reply budget: how many bytes the daemon may send toward one destination.

UDP has no handshake, so a request's source address (and a ``reply_to`` port, or a subscriber's
port) may point at someone who never asked.  Every datagram the server sends to such a
destination takes its size from that destination's token bucket:

- a bucket holds at most ``burst`` bytes and refills at ``rate`` bytes a second;
- each request adds ``amplification`` times its own size to the bucket its replies go to, so
  a client that asks a lot gets more, but never more than ``amplification`` bytes per byte it
  sent beyond the steady ``rate``;
- a remote host's ports share one bucket (a forged source address cannot multiply it by
  choosing many ports); on this machine each port has its own;
- an answer (``results/begin`` .. ``results/end``) goes out whole or not at all: it starts when
  the bucket holds its estimated size (or is full), then completes even if that overdraws the
  bucket, which the following answers then wait for.

Replies to the very socket a request came from on this machine are not counted (the server
never asks: a local process cannot forge its source address, so such replies amplify nothing).

Pure logic over a clock: no sockets.  Thread-safe.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

BEGIN = "/soundalike/results/begin"
_IN_ANSWER = ("/soundalike/result", "/soundalike/results/end")
END = "/soundalike/results/end"


class ReplyBudget:
    def __init__(self, *, rate: float = 32_768, burst: float = 65_536,
                 amplification: float = 16, max_keys: int = 4096,
                 is_local: Callable[[str], bool] = lambda host: False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.amplification = float(amplification)
        self.max_keys = max_keys
        self._is_local = is_local
        self._clock = clock
        self._buckets: OrderedDict[tuple, list[float]] = OrderedDict()  # key -> [tokens, t]
        self._answers: dict[tuple, bool] = {}  # destination -> answer in progress allowed?
        self._lock = threading.Lock()
        self.sent = 0
        self.refused = 0

    def key(self, dest: tuple) -> tuple:
        host = dest[0]
        return (host, dest[1]) if self._is_local(host) else (host,)

    def _bucket(self, dest: tuple) -> list[float]:
        key = self.key(dest)
        now = self._clock()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = [self.burst, now]
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
        return b

    def credit(self, dest: tuple, request_bytes: int) -> None:
        """A request of ``request_bytes`` arrived whose replies go to ``dest``."""
        with self._lock:
            b = self._bucket(dest)
            b[0] = min(self.burst, b[0] + self.amplification * request_bytes)

    def allow(self, dest: tuple, address: str, size: int, args: tuple = ()) -> bool:
        """Whether a datagram of ``size`` bytes to ``dest`` may go out now (and take it)."""
        with self._lock:
            dkey = (dest[0], dest[1])
            if address in _IN_ANSWER and dkey in self._answers:
                ok = self._answers[dkey]
                if address == END:
                    del self._answers[dkey]
                if ok:
                    self._bucket(dest)[0] -= size
                    self.sent += size
                else:
                    self.refused += 1
                return ok
            b = self._bucket(dest)
            need = size
            if address == BEGIN:
                count = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
                need = min(self.burst, size * (max(0, count) + 2))
            ok = b[0] >= need
            if address == BEGIN:
                self._answers[dkey] = ok
                if len(self._answers) > self.max_keys:
                    self._answers.pop(next(iter(self._answers)))
            if ok:
                b[0] -= size
                self.sent += size
            else:
                self.refused += 1
            return ok
