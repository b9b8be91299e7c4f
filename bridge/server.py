"""The OSC server: one UDP socket, a receiving thread, two bounded worker lanes and a pusher.

Threads (each a small loop with a stop event, woken by a marker, joined on ``stop()``):

- ``osc-receive`` reads datagrams, drops those from clients that are not allowed, decodes them
  (bundles flattened), answers malformed ones with ``/soundalike/error``, serves the cheap
  requests at once (status, ping, cursor, ...) and queues the rest;
- ``osc-fast`` serves queries for indexed files (no encoder needed);
- ``osc-slow`` serves queries that must embed a file first, and folder add/remove and rescan;
- ``osc-push`` sends backend events (indexed / removed / moved / progress) to subscribers,
  progress at most every ``progress_interval`` seconds (the latest one always goes out).

Both lanes are bounded queues: under a flood, a request that finds its lane full is answered
``busy`` (at most ``busy_replies_per_s`` such answers a second, the rest dropped), so memory
stays bounded and status requests, served on the receiving thread, keep being answered.

Work per datagram is bounded (see bridge/osc_wire.py: at most 128 arguments a message, 512 a
datagram, refused before they are read), and the inbox between the receiving thread and the
decoder is fair: each sender (host and port) has its own queue, served in turn, so datagrams
that are slow to handle cannot make another client's requests wait behind them.  Every reply
goes through the reply budget (bridge/budget.py) and a size check: a reply too large for one
datagram is answered ``/soundalike/error`` instead.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import queue
import socket
import threading
import time
from collections import OrderedDict, deque
from typing import Any, Iterable

from engine.threads import Worker

from .budget import ReplyBudget
from .errors import ConfigError, UserError
from .handlers import ERROR, Handlers, Query, Request, RequestError
from .osc_wire import DecodeError, Message, decode, encode
from .routes import ROUTES
from .trust import TrustPolicy, host_ip as _ip

#: seconds stop() waits for each of the server's threads (one that hangs is logged)
STOP_TIMEOUT = 10.0

MAX_DATAGRAM = 65_535
#: the largest UDP payload over IPv4 (IPv6 allows 65,527 but the smaller limit is used for both)
MAX_REPLY = 65_507
#: an address quoted in an error message is cut to this many characters
QUOTE = 200
_STOP = object()
#: requests answered by the receiving thread itself (cheap; they must get through a flood)
_URGENT = (b"/soundalike/status\x00", b"/soundalike/ping\x00")


def parse_allow_list(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Client addresses or networks (``192.168.1.20``, ``192.168.1.0/24``, ``fe80::/10``).

    Raises ConfigError naming every entry that is not one.
    """
    nets, bad = [], []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            bad.append(repr(entry))
    if bad:
        raise ConfigError("not an IP address or network in the OSC allow-list: "
                          + ", ".join(bad))
    return nets


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


class _RateLimit:
    """A token bucket: ``allow()`` is True at most ``rate`` times a second (bursts of ``rate``)."""

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self.tokens = float(rate)
        self.stamp = time.monotonic()
        self.dropped = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            self.dropped += 1
            return False


class _Inbox:
    """Datagrams waiting to be decoded: bounded in count, in bytes and per sender; fair.

    Each sender (host, port) has its own FIFO; :meth:`get` serves the senders in turn, one
    datagram each, so a sender's backlog delays only itself.  ``put`` never blocks: a datagram
    that would pass a bound is refused (the caller counts it as dropped).
    """

    def __init__(self, max_items: int, max_bytes: int, per_sender: int) -> None:
        self.max_items, self.max_bytes, self.per_sender = max_items, max_bytes, per_sender
        self._queues: OrderedDict[tuple, deque] = OrderedDict()
        self._cv = threading.Condition()
        self.items = 0
        self.bytes = 0
        self.peak = 0
        self.peak_per_sender = 0
        self._closed = False

    def put(self, sender: tuple, data: bytes) -> bool:
        key = (sender[0], sender[1])
        with self._cv:
            q = self._queues.get(key)
            if self.items >= self.max_items or self.bytes + len(data) > self.max_bytes or \
                    (q is not None and len(q) >= self.per_sender):
                return False
            if q is None:
                q = self._queues[key] = deque()
            q.append((data, sender))
            self.items += 1
            self.bytes += len(data)
            self.peak = max(self.peak, self.items)
            self.peak_per_sender = max(self.peak_per_sender, len(q))
            self._cv.notify()
            return True

    def get(self):
        """The next datagram, (data, sender), in turn; ``_STOP`` once closed."""
        with self._cv:
            while not self._queues and not self._closed:
                self._cv.wait()
            if self._closed:
                return _STOP
            key, q = next(iter(self._queues.items()))
            item = q.popleft()
            if q:
                self._queues.move_to_end(key)
            else:
                del self._queues[key]
            self.items -= 1
            self.bytes -= len(item[0])
            return item

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._queues.clear()
            self.items = self.bytes = 0
            self._cv.notify_all()

    def reopen(self) -> None:
        with self._cv:
            self._closed = False


class OscServer:
    """Serves the OSC protocol of docs/osc.md for a :class:`bridge.backend.Backend`.

    ``host``/``port``: where to listen (port 0: any free port, see :attr:`address`).
    ``reply_port``: the daemon's ``--reply-port`` (replies go there unless a client registered
    a port with ``/soundalike/reply_to``).  ``allow``: client addresses or networks allowed
    besides this machine; required when ``host`` is not a loopback address.  ``query_paths``:
    folders outside the library that any allowed client may query (see bridge/trust.py).
    ``budget_rate``, ``budget_burst``, ``amplification``: the reply budget per destination
    (bridge/budget.py).  Raises ConfigError for a bad configuration; :meth:`start` raises
    UserError when it cannot listen.
    """

    def __init__(self, backend, *, host: str = "127.0.0.1", port: int = 9000,
                 reply_port: int | None = None, allow: Iterable[str] = (),
                 logger: logging.Logger | None = None, queue_size: int = 64,
                 slow_queue_size: int = 16, busy_replies_per_s: float = 100.0,
                 progress_interval: float = 0.25, inbox_size: int = 2048,
                 inbox_bytes: int = 8 << 20, inbox_per_sender: int = 128,
                 query_paths: Iterable[str] = (), budget_rate: float = 32_768,
                 budget_burst: float = 65_536, amplification: float = 16) -> None:
        self.log = logger or logging.getLogger("soundalike.osc")
        self.backend = backend
        self.host = host or "127.0.0.1"
        if not 0 <= int(port) <= 65535:
            raise ConfigError(f"OSC port out of range: {port} (0..65535)")
        if reply_port is not None and not 1 <= int(reply_port) <= 65535:
            raise ConfigError(f"reply port out of range: {reply_port} (1..65535)")
        self.port = int(port)
        self.allow = parse_allow_list(allow)
        if not is_loopback_host(self.host) and not self.allow:
            raise ConfigError(f"listening on {self.host} (not loopback) needs an allow-list of "
                              "client addresses")
        self.handlers = Handlers(backend, self._send, reply_port=reply_port, logger=self.log)
        self.handlers.trust = TrustPolicy(query_paths)
        self.budget = ReplyBudget(rate=budget_rate, burst=budget_burst,
                                  amplification=amplification, is_local=self._is_local_host)
        self._ctx = threading.local()  # the request being served on this thread
        self.progress_interval = progress_interval
        self._fast: queue.Queue = queue.Queue(maxsize=queue_size)
        self._slow: queue.Queue = queue.Queue(maxsize=slow_queue_size)
        self._events: queue.Queue = queue.Queue(maxsize=10_000)
        # raw datagrams waiting to be decoded: the receiving thread only reads the socket (so
        # that the kernel's buffer does not overflow under a flood) and answers status and ping
        # itself; a full inbox drops datagrams
        self._inbox = _Inbox(inbox_size, inbox_bytes, inbox_per_sender)
        self._busy = _RateLimit(busy_replies_per_s)
        self._garbage = _RateLimit(busy_replies_per_s)
        self._stop = threading.Event()
        self._threads: list[Worker] = []
        self._sock: socket.socket | None = None
        self._local_ips: set = set()
        self._access_cache: dict[str, tuple[bool, bool]] = {}
        self._listening = False
        self.stats = {"datagrams": 0, "malformed": 0, "refused": 0, "busy": 0,
                      "events_dropped": 0, "inbox_dropped": 0, "too_large": 0,
                      "over_budget": 0}

    # -- life cycle -----------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound (after :meth:`start`)."""
        if self._sock is None:
            return (self.host, self.port)
        name = self._sock.getsockname()
        return (name[0], name[1])

    def start(self) -> "OscServer":
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, sockaddr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except (OSError, IndexError) as exc:
            raise UserError(f"cannot listen for OSC on {self.host}:{self.port}: {exc}") from None
        try:
            _grow_receive_buffer(sock, 1 << 20)
            sock.bind(sockaddr)
            sock.settimeout(0.5)
        except OSError as exc:
            sock.close()
            why = exc.strerror or str(exc)
            raise UserError(f"cannot listen for OSC on {self.host}:{self.port}: {why}") from None
        self._sock = sock
        bound = _ip(sock.getsockname()[0])
        if bound is not None and not bound.is_unspecified:
            self._local_ips.add(bound)
        self._access_cache.clear()
        self._inbox.reopen()
        self._stop.clear()
        self._listening = True
        self.backend.add_listener(self._on_backend_event)
        for name, target, args in (("osc-receive", self._receive_loop, ()),
                                   ("osc-dispatch", self._dispatch_loop, ()),
                                   ("osc-fast", self._work_loop, (self._fast,)),
                                   ("osc-slow", self._work_loop, (self._slow,)),
                                   ("osc-push", self._push_loop, ())):
            # the loops watch the server's one stop event; Worker joins each with a timeout
            self._threads.append(
                Worker(name, lambda _stop, target=target, args=args: target(*args)).start())
        self.log.info("OSC listening on %s:%d", *self.address)
        return self

    def stop(self) -> None:
        """Stop every thread and join it, then close the socket.  Idempotent."""
        if not self._threads:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            return
        self._listening = False
        self._stop.set()
        self._wake_receiver()
        receiver, rest = self._threads[0], self._threads[1:]
        receiver.stop(timeout=STOP_TIMEOUT)
        self._inbox.close()
        for q in (self._fast, self._slow, self._events):
            _drain(q)
            q.put(_STOP)
        for t in rest:
            t.stop(timeout=STOP_TIMEOUT)
        self._threads.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.log.info("OSC stopped")

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wake_receiver(self) -> None:
        """Send an empty datagram to our own socket so that recvfrom returns at once."""
        if self._sock is None:
            return
        host, port = self.address
        ip = _ip(host)
        if ip is None or ip.is_unspecified:
            host = "::1" if self._sock.family == socket.AF_INET6 else "127.0.0.1"
        try:
            with socket.socket(self._sock.family, socket.SOCK_DGRAM) as s:
                s.sendto(b"", (host, port))
        except OSError:
            pass  # the receive timeout wakes it anyway

    # -- sending --------------------------------------------------------------------------
    def _is_local_host(self, host: str) -> bool:
        return self.client_access(host)[1]

    def _send(self, dest: tuple, address: str, *args: Any) -> None:
        """Send one message, within the reply budget; one too large for a datagram is answered
        with /soundalike/error (to the request being served, when there is one)."""
        sock = self._sock
        if sock is None:
            return
        data = encode(address, *args)
        if len(data) > MAX_REPLY:
            self.stats["too_large"] += 1
            request = getattr(self._ctx, "address", None)
            if request is None or address == ERROR:
                self.log.debug("OSC %s to %s dropped: %d bytes", address, dest[:2], len(data))
                return
            data = encode(ERROR, _quote(request), f"reply too large for one datagram "
                          f"({address}, {len(data)} bytes; at most {MAX_REPLY})")
            address = ERROR
        sender = getattr(self._ctx, "sender", None)
        own_socket = sender is not None and tuple(sender[:2]) == tuple(dest[:2]) and \
            self._is_local_host(dest[0])
        if not own_socket and not self.budget.allow(dest, address, len(data), args):
            self.stats["over_budget"] += 1
            return
        try:
            sock.sendto(data, dest)
        except OSError as exc:  # unreachable host, socket closed, ...
            self.log.debug("OSC send %s to %s failed: %s", address, dest[:2], exc)

    # -- receiving ------------------------------------------------------------------------
    def _receive_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, sender = sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except (ConnectionResetError, InterruptedError):
                continue  # Windows reports an earlier send's ICMP "port unreachable" here
            except OSError as exc:
                if self._stop.is_set():
                    break
                self.log.warning("OSC receive failed: %s", exc)
                time.sleep(0.05)
                continue
            if self._stop.is_set():
                break
            if data.startswith(_URGENT):
                try:  # cheap and answered at once, even when the inbox is full
                    self.handle_datagram(data, sender)
                except Exception:  # never die of a datagram
                    self.log.exception("OSC datagram from %s could not be handled", sender[:2])
                continue
            if not self._inbox.put(sender, data):
                self.stats["inbox_dropped"] += 1

    def _dispatch_loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            try:
                self.handle_datagram(*item)
            except Exception:  # never die of a datagram
                self.log.exception("OSC datagram from %s could not be handled", item[1][:2])

    def inbox_stats(self) -> dict:
        """Datagrams waiting to be decoded now, and the most there ever were (all, one sender)."""
        return {"waiting": self._inbox.items, "bytes": self._inbox.bytes,
                "peak": self._inbox.peak, "peak_per_sender": self._inbox.peak_per_sender}

    def client_access(self, host: str) -> tuple[bool, bool]:
        cached = self._access_cache.get(host)
        if cached is None:
            cached = self._client_access(host)
            if len(self._access_cache) > 4096:
                self._access_cache.clear()
            self._access_cache[host] = cached
        return cached

    def _client_access(self, host: str) -> tuple[bool, bool]:
        """(allowed, local) for a client address."""
        ip = _ip(host)
        if ip is None:
            return False, False
        local = ip.is_loopback or ip in self._local_ips
        return local or any(ip in net for net in self.allow), local

    def handle_datagram(self, data: bytes, sender: tuple) -> None:
        """Decode one datagram and serve (or queue) its messages.  Never raises for bad input."""
        self.stats["datagrams"] += 1
        allowed, local = self.client_access(sender[0])
        if not allowed:
            self.stats["refused"] += 1
            return  # a client that is not allowed gets nothing at all
        if not data:
            return  # an empty datagram (our own wake-up marker, or nothing worth answering)
        ctx = self._ctx
        ctx.sender, ctx.address = sender, ""
        try:
            dest = self.handlers.dest_for(sender)
            if not (local and tuple(dest[:2]) == tuple(sender[:2])):
                self.budget.credit(dest, len(data))
            try:
                items: list[Message | DecodeError] = decode(data)
            except DecodeError as exc:
                items = [exc]
            for item in items:
                ctx.address = item.address
                if isinstance(item, DecodeError):
                    self.stats["malformed"] += 1
                    if item.address or self._garbage.allow():
                        self.handlers.error(sender, _quote(item.address),
                                            f"malformed: {item.reason}")
                    continue
                self._dispatch(Request(item.address, item.tags, item.args, sender, local))
        finally:
            ctx.sender = ctx.address = None

    def _dispatch(self, req: Request) -> None:
        route = ROUTES.get(req.address)
        if route is None:
            self.handlers.error(req.sender, _quote(req.address),
                                f"unknown address: {_quote(req.address)}")
            return
        if route.local_only and not req.local:
            self.handlers.error(req.sender, req.address, "not allowed from a remote client")
            return
        if route.local_only and not self.handlers.trust.is_owner(req.sender, req.local):
            self.handlers.error(req.sender, req.address,
                                "not allowed: only the user running the daemon may do this")
            return
        if route.lane == "inline":
            self.handlers.handle(route, req)
            return
        query: Query | None = None
        lane = self._slow
        if route.lane == "query":
            try:
                query = self.handlers.prepare_query(route, req)
            except Exception as exc:  # wrong arguments, not allowed, no selection...
                if not isinstance(exc, RequestError):
                    self.log.exception("OSC %s: checking the request failed", req.address)
                self.handlers.error(req.sender, req.address, str(exc))
                return
            if not self._needs_encoder(query.path):
                lane = self._fast
        try:
            lane.put_nowait((route, req, query))
        except queue.Full:
            self.stats["busy"] += 1
            if self._busy.allow():
                self.handlers.error(req.sender, req.address,
                                    "busy: too many requests waiting, try again")

    def _needs_encoder(self, path: str) -> bool:
        """Whether answering ``path`` may need the encoder (then it goes to the slow lane).

        Uses ``backend.is_indexed(path)`` when the backend has it; otherwise a file under a
        watched folder counts as indexed.
        """
        is_indexed = getattr(self.backend, "is_indexed", None)
        try:
            if is_indexed is not None:
                return not is_indexed(path)
            return not any(path.startswith(f.rstrip(os.sep) + os.sep)
                           for f in self.backend.folders())
        except Exception:
            self.log.exception("OSC: checking whether %s is indexed failed", path)
            return True

    # -- workers --------------------------------------------------------------------------
    def _work_loop(self, lane: queue.Queue) -> None:
        while True:
            item = lane.get()
            if item is _STOP:
                return
            route, req, query = item
            self._ctx.sender, self._ctx.address = req.sender, req.address
            try:
                self.handlers.handle(route, req, query)
            finally:
                self._ctx.sender = self._ctx.address = None

    # -- pushes ---------------------------------------------------------------------------
    def _on_backend_event(self, event: str, args: tuple) -> None:
        """The backend listener: never blocks, never raises (called from indexing threads)."""
        if not self._listening:
            return
        try:
            self._events.put_nowait((event, tuple(args)))
        except queue.Full:
            self.stats["events_dropped"] += 1

    def _push_loop(self) -> None:
        pending_progress: tuple | None = None
        last_progress = 0.0
        next_expiry = time.monotonic() + 1.0
        while True:
            now = time.monotonic()
            if now >= next_expiry:  # subscriptions not renewed in time end here
                self.handlers.expire_subscriptions(now)
                next_expiry = now + 1.0
            timeout = next_expiry - now
            if pending_progress is not None:
                timeout = min(timeout, max(0.0, last_progress + self.progress_interval - now))
            try:
                item = self._events.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                event, args = item
                if event == "progress":
                    pending_progress = args
                else:
                    self._push_event(event, args)
            now = time.monotonic()
            if pending_progress is not None and now - last_progress >= self.progress_interval:
                self._push_event("progress", pending_progress)
                pending_progress, last_progress = None, now

    def _push_event(self, event: str, args: tuple) -> None:
        try:
            self.handlers.on_event(event, args)
        except Exception:
            self.log.exception("OSC push of %s failed", event)


def _grow_receive_buffer(sock: socket.socket, size: int) -> None:
    """A large kernel receive buffer absorbs floods while Python is busy elsewhere.

    SO_RCVBUF is capped by the system (net.core.rmem_max, often 208 KB); SO_RCVBUFFORCE
    passes the cap where the process may (Linux, CAP_NET_ADMIN)."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
        except OSError:
            pass
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    except OSError:
        pass


def _quote(text: str) -> str:
    """``text`` cut to QUOTE characters (an address quoted back in an error)."""
    return text if len(text) <= QUOTE else text[:QUOTE] + f"... ({len(text)} characters)"


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
