"""valet's egress proxy: the browser's one way out to the network.

Chromium is launched with it as its proxy, loopback included (Playwright's `proxy` option
passes `--proxy-server` and `--proxy-bypass-list=<-loopback>`, which removes Chromium's
implicit loopback bypass), so everything the browser sends leaves through here: pages, a
script's `fetch` and XHR, images, WebSockets, files fetched by URL (`context.request` takes the
same proxy), and the person's own clicks during a takeover.

For each connection the proxy resolves the host once, asks the session's `check` about the
connection and every address it resolved to, and connects to exactly those addresses: a name
that answers a public address for one lookup and 127.0.0.1 for the next (DNS rebinding) cannot
switch where the bytes go. A refusal answers `403` with the reason in plain text, and nothing
is connected. It speaks `CONNECT host:port` (HTTPS, WSS: a blind tunnel once the check passed)
and plain HTTP requests in absolute form (`GET http://host/path`, WebSocket upgrades included),
one request per connection to the proxy.

Fail closed: a check that raises or takes too long refuses. The check decides; nothing here
knows the rules (that is the gateway's `DocumentGuard.connect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_log = logging.getLogger(__name__)

Resolver = Callable[[str], Awaitable[list[str]]]
"""Host name → its IP addresses (empty when it does not resolve)."""


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection the browser asked the egress proxy to open."""

    host: str
    """The host as the browser named it (lower case; an IPv6 address without brackets)."""
    port: int
    addresses: tuple[str, ...]
    """What `host` resolved to, once; the proxy connects to these and no other."""
    tunnel: bool
    """A `CONNECT` tunnel (HTTPS, WSS, or a WebSocket on plain http), not a plain request."""

    @property
    def origin(self) -> str:
        """The URL of the origin it reaches (`https://` for a tunnel but on port 80)."""
        scheme = "https" if self.tunnel and self.port != 80 else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"


EgressCheck = Callable[[Connection], Awaitable[str | None]]
"""None lets the connection be made; a text refuses it and says why."""


async def resolve_addresses(host: str) -> list[str]:
    """The host's addresses via `getaddrinfo`, in order, each once; empty when it does not
    resolve. An address written out is its own answer."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]).partition("%")[0] for info in infos))


_HEAD_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_UNCHECKED = "valet could not check where this connection goes"
_USAGE = "valet's egress proxy forwards only CONNECT host:port and http:// requests"
_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization"})


class EgressProxy:
    """An HTTP proxy on 127.0.0.1 that lets a connection go only where `check` allows."""

    def __init__(
        self,
        check: EgressCheck,
        resolve: Resolver = resolve_addresses,
        *,
        check_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        head_timeout_s: float = 30.0,
    ) -> None:
        """`resolve`: how a host name becomes addresses (once per connection); the timeouts
        bound the check, each connection attempt, and the wait for a request's head."""
        self._check = check
        self._resolve = resolve
        self._check_timeout_s = check_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._head_timeout_s = head_timeout_s
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, check: EgressCheck, resolve: Resolver = resolve_addresses) -> EgressProxy:
        """Listen on a free port of 127.0.0.1."""
        proxy = cls(check, resolve)
        proxy._server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        return proxy

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, as Chromium's `--proxy-server` takes it."""
        if self._server is None:
            raise RuntimeError("the egress proxy is not listening; use EgressProxy.start")
        port = int(self._server.sockets[0].getsockname()[1])
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening and cut every connection still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the browser (or the site) went away mid-way
        except Exception:
            _log.exception("the egress proxy failed on a connection")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self._head_timeout_s):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await _answer(writer, 431, "the request's head is too large")
            return
        request = _Request.parse(head)
        target = None if request is None else request.target()
        if request is None or target is None:
            await _answer(writer, 400, _USAGE)
            return
        host, port, path = target
        connection = Connection(host, port, await self._addresses(host), path is None)
        refusal = await self._ask(connection)
        if refusal is not None:
            refused = f"valet refused to connect to {_site(connection)}: {refusal}"
            await _answer(writer, 403, refused)
            return
        upstream = await self._connect(connection)
        if isinstance(upstream, str):
            await _answer(writer, 502, upstream)
            return
        up_reader, up_writer = upstream
        try:
            if path is None:
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                await _relay(reader, writer, up_reader, up_writer, rewrite=False)
            else:
                up_writer.write(request.forwarded(path, _site(connection)))
                await up_writer.drain()
                await _relay(reader, writer, up_reader, up_writer, rewrite=not request.upgrade)
        finally:
            up_writer.close()

    async def _addresses(self, host: str) -> tuple[str, ...]:
        try:
            return (str(ipaddress.ip_address(host)),)
        except ValueError:
            pass
        try:
            return tuple(await self._resolve(host))
        except Exception:
            _log.exception("resolving %s failed", host)
            return ()

    async def _ask(self, connection: Connection) -> str | None:
        try:
            async with asyncio.timeout(self._check_timeout_s):
                return await self._check(connection)
        except Exception:
            _log.exception("egress check failed; the connection is refused")
            return _UNCHECKED

    async def _connect(
        self, connection: Connection
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
        """A connection to the first checked address that answers, or why none did."""
        if not connection.addresses:
            return f"{connection.host} does not resolve"
        failure = ""
        for address in connection.addresses:
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    return await asyncio.open_connection(address, connection.port)
            except (OSError, TimeoutError) as exc:
                failure = str(exc) or type(exc).__name__
        return f"valet could not reach {_site(connection)}: {failure}"


@dataclass(frozen=True, slots=True)
class _Request:
    """A request's head as the browser sent it to the proxy."""

    method: str
    uri: str
    version: str
    headers: list[tuple[str, str]]

    @classmethod
    def parse(cls, head: bytes) -> _Request | None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return None
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                return None
            headers.append((name, value.strip()))
        return cls(parts[0].upper(), parts[1], parts[2], headers)

    def target(self) -> tuple[str, int, str | None] | None:
        """(host, port, path): path None for a `CONNECT` tunnel; None when neither form."""
        if self.method == "CONNECT":
            text, default = "//" + self.uri, 443
        elif self.uri.lower().startswith("http://"):
            text, default = self.uri, 80
        else:
            return None
        try:
            parts = urlsplit(text)
            host = parts.hostname
            port = parts.port or default
        except ValueError:
            return None
        if not host:
            return None
        if self.method == "CONNECT":
            return host, port, None
        path = parts.path or "/"
        return host, port, path + (f"?{parts.query}" if parts.query else "")

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name), "")

    @property
    def upgrade(self) -> bool:
        """A protocol switch (a WebSocket over plain http): the connection stays open."""
        tokens = {t.strip().lower() for t in self.header("connection").split(",")}
        return "upgrade" in tokens and bool(self.header("upgrade"))

    def forwarded(self, path: str, site: str) -> bytes:
        """The head to send the site: origin-form, proxy headers dropped, and (but for an
        upgrade) `Connection: close`, so that the next request comes through the check again."""
        lines = [f"{self.method} {path} {self.version}"]
        lines += [f"{n}: {v}" for n, v in self.headers if n.lower() not in _DROPPED]
        if not self.header("host"):
            lines.append(f"Host: {site}")
        lines.append("Connection: Upgrade" if self.upgrade else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _relay(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    site_reader: asyncio.StreamReader,
    site_writer: asyncio.StreamWriter,
    *,
    rewrite: bool,
) -> None:
    """Copy both ways until the site's side ends (or either side fails). `rewrite`: mark the
    response `Connection: close`, so the browser does not reuse the connection."""
    up = asyncio.create_task(_pipe(client_reader, site_writer))
    down = asyncio.create_task(
        _respond(site_reader, client_writer) if rewrite else _pipe(site_reader, client_writer)
    )
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and up.result():  # the browser finished sending: wait for the answer
            await down
    finally:
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copy until end of stream; True when it ended cleanly (then the write side is closed)."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        return False
    return True


async def _respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Copy a response, its final head marked `Connection: close` (interim `1xx` heads and a
    `101` switch pass as they are)."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as partial:
                writer.write(partial.partial)
                return True
            except asyncio.LimitOverrunError:
                break  # a head too large to read: pass it on as it is
            status = head[9:12]
            if status == b"101" or not status.startswith(b"1"):
                writer.write(head if status == b"101" else _closing(head))
                break
            writer.write(head)
        await writer.drain()
    except (ConnectionError, OSError):
        return False
    return await _pipe(reader, writer)


def _closing(head: bytes) -> bytes:
    lines = head.decode("latin-1").split("\r\n")
    kept = [
        line
        for line in lines[1:]
        if line and line.partition(":")[0].strip().lower() not in _DROPPED
    ]
    return ("\r\n".join([lines[0], *kept, "Connection: close"]) + "\r\n\r\n").encode("latin-1")


async def _answer(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    reasons = {400: "Bad Request", 403: "Forbidden", 431: "Request Header Fields Too Large"}
    body = (text + "\n").encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {reasons.get(status, 'Bad Gateway')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()


def _site(connection: Connection) -> str:
    host = f"[{connection.host}]" if ":" in connection.host else connection.host
    return f"{host}:{connection.port}"
