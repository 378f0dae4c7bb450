"""Outbound HTTP to tenant-supplied URLs, guarded against server-side request forgery (SSRF).

Every URL a tenant gives us (customer webhooks, Slack/Teams webhooks, feeds) is fetched through
`guarded_session()`; `check_url()` gives early, readable feedback when the URL is registered.

What it defends against: a tenant pointing us at our own infrastructure or the cloud around it —
loopback, RFC 1918 and CGNAT ranges, link-local (the 169.254.169.254 metadata service), ULA and
link-local IPv6, multicast, reserved and documentation ranges — whether spelled as a name, a
decimal/hex/octal IPv4 literal, an IPv4-mapped/NAT64/6to4 IPv6 address, a name with one private
record among public ones, a name that re-resolves to a private address after validation (DNS
rebinding), userinfo tricks (`https://good.example@127.0.0.1/`), redirects, or proxies from the
environment.

How (after Sentry's `safe_create_connection`, GitLab's IP pinning and Saleor's `requests-hardened`):

- The decision is made at connect time, inside urllib3's `HTTPConnection._new_conn`: the host is
  resolved once with `socket.getaddrinfo`, *every* returned address is checked (one bad apple
  refuses the request), and the socket then connects to those checked addresses — never to a
  fresh lookup — so what is checked is what is dialled. TLS SNI, certificate matching and the
  `Host` header keep the original hostname, because only the dial target changes.
  `GuardedPool` (the notification channels' POSTs, on `http.client` for a third of the CPU)
  dials through the same check when it opens a connection.
- Names are looked up as FQDNs (trailing dot) so resolv.conf search domains cannot turn a bare
  `redis` into `redis.internal.`; `localhost`/`*.localhost` are refused without a lookup; IP
  literals (including legacy `2130706433`, `0x7f000001`, `0177.0.0.1` spellings, parsed as
  `inet_aton` does) are never sent to DNS. A failed lookup is a refusal, not a pass.
- Allowed networks (`SSRF_ALLOWED_NETWORKS` or `allowed_networks=`) exempt exactly the addresses
  inside them; every other address is judged as before (GitLab issue 293733).
- The session ignores proxy environment variables and refuses explicit proxies (the proxy, not
  us, would choose the destination), never follows redirects (a 3xx is returned as the response),
  accepts only http/https, refuses URLs with userinfo and applies a default timeout.

Refusals raise `UnsafeURLError`, a `requests.RequestException` (so generic delivery error handling
records a failure) that is *not* a `requests.ConnectionError` (so "retry on connection error"
logic does not mistake it for a network blip); `.reason` says why in words fit for a tenant.

Limits: DNS lookups have no timeout of their own (the OS resolver's applies); the port is not
restricted; an egress proxy/network policy for workers is still the outer line of defence.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import select
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol

import certifi
import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, LocationParseError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT, _TYPE_TIMEOUT

__all__ = [
    "DEFAULT_TIMEOUT",
    "GuardedPool",
    "Reply",
    "TransportError",
    "UnsafeURLError",
    "check_url",
    "guarded_session",
    "per_thread",
]

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
type SockAddr = tuple[str, int] | tuple[str, int, int, int]

#: (connect, read) seconds, used when the caller passes no timeout (Saleor uses (2, 10)).
DEFAULT_TIMEOUT: Final = (3.0, 15.0)

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class UnsafeURLError(requests.RequestException):
    """A URL we refuse to fetch; `.reason` explains why (safe to show to the tenant)."""

    def __init__(self, reason: str, *, request: requests.PreparedRequest | None = None) -> None:
        super().__init__(reason, request=request)
        self.reason = reason


class _Refused(Exception):
    """Raised inside urllib3; not an OSError, so urllib3 neither wraps nor retries it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- Which addresses are public ------------------------------------------------------------------

# Explicit tables rather than `ipaddress` alone: `is_global` has changed between Python releases
# (3.12.1 calls 224.0.0.1, 192.0.0.9 and fec0::1 global) and the explicit reason reads better.
_V4_BLOCKED: Final = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "the unspecified/'this network' range"),
        ("10.0.0.0/8", "a private network (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (includes the cloud metadata service)"),
        ("172.16.0.0/12", "a private network (RFC 1918)"),
        ("192.0.0.0/24", "reserved for IETF protocol assignments"),
        ("192.0.2.0/24", "reserved for documentation"),
        ("192.88.99.0/24", "the deprecated 6to4 relay range"),
        ("192.168.0.0/16", "a private network (RFC 1918)"),
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("198.51.100.0/24", "reserved for documentation"),
        ("203.0.113.0/24", "reserved for documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (includes broadcast)"),
    )
)
_V6_BLOCKED: Final = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/128", "the unspecified address"),
        ("::1/128", "loopback"),
        ("100::/64", "discard-only"),
        ("2001::/23", "reserved for IETF protocol assignments"),
        ("2001:db8::/32", "reserved for documentation"),
        ("fc00::/7", "a unique local address (private IPv6)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")


def _generic_reason(ip: IPAddress) -> str | None:
    if (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return "not a globally routable address"
    return None


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for net, why in _V4_BLOCKED:
        if ip in net:
            return why
    return _generic_reason(ip)


def _non_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` must not be dialled, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_reason(ip)
    # IPv6 forms that carry an IPv4 address are judged by the IPv4 address they reach.
    embedded = ip.ipv4_mapped
    if embedded is None and ip in _NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is not None:
        why = _v4_reason(embedded)
        return f"an IPv6 form of {embedded}, which is {why}" if why else None
    for net, why in _V6_BLOCKED:
        if ip in net:
            return why
    if ip.sixtofour is not None and (why := _v4_reason(ip.sixtofour)):
        return f"a 6to4 form of {ip.sixtofour}, which is {why}"
    return _generic_reason(ip)


@dataclass(frozen=True, slots=True)
class _Policy:
    """Public addresses, plus exactly the addresses inside `allowed`."""

    allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, ip: IPAddress) -> str | None:
        forms: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            forms.append(ip.ipv4_mapped)
        for form in forms:
            # Compare versions explicitly: membership across versions is not an error.
            if any(form.version == net.version and form in net for net in self.allowed):
                return None
        return _non_public_reason(ip)

    def resolve(self, host: str, port: int) -> list[tuple[socket.AddressFamily, SockAddr]]:
        """The addresses to dial for `host`; raises `_Refused` unless every one is allowed."""
        host = host.strip("[]")
        if not host or host == ".":
            raise _Refused("the URL has no host")
        literal = _ip_literal(host)
        if literal is not None:
            if why := self.refusal(literal):
                raise _Refused(f"{host} is {why}")
            return [_sockaddr(literal, port)]
        return self._resolve_name(host, port)

    def _resolve_name(self, host: str, port: int) -> list[tuple[socket.AddressFamily, SockAddr]]:
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            raise _Refused(f"{host} is a loopback name")
        try:
            # The trailing dot keeps resolv.conf search domains out of it (Sentry's ensure_fqdn).
            infos = socket.getaddrinfo(f"{name}.", port, allowed_gai_family(), socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise _Refused(f"{host} could not be resolved ({exc})") from exc
        targets: list[tuple[socket.AddressFamily, SockAddr]] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = str(sockaddr[0])
            try:
                ip = ipaddress.ip_address(address.partition("%")[0])
            except ValueError:
                raise _Refused(f"{host} resolves to an unusable address {address!r}") from None
            if why := self.refusal(ip):
                raise _Refused(f"{host} resolves to {ip}, which is {why}")
            # Dial the parsed address itself; only an IPv6 scope id is carried over.
            scope_id = int(sockaddr[3]) if len(sockaddr) == 4 else 0
            targets.append(_sockaddr(ip, port, scope_id=scope_id))
        if not targets:
            raise _Refused(f"{host} could not be resolved (no addresses)")
        return targets


_INET_ATON_CHARS: Final = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


def _ip_literal(host: str) -> IPAddress | None:
    """The address `host` denotes without DNS, including the legacy forms `inet_aton` accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    candidate = host.removesuffix(".")
    if not _INET_ATON_CHARS.fullmatch(candidate):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(candidate))
    except OSError:
        return None


def _sockaddr(
    ip: IPAddress, port: int, *, scope_id: int = 0
) -> tuple[socket.AddressFamily, SockAddr]:
    if isinstance(ip, ipaddress.IPv4Address):
        return socket.AF_INET, (str(ip), port)
    # A literal's scope (`fe80::1%eth0`) stays in str(ip); a resolved one comes as `scope_id`.
    return socket.AF_INET6, (str(ip), port, 0, scope_id)


def _policy(allowed_networks: Sequence[str] | None) -> _Policy:
    if allowed_networks is None:
        allowed_networks = getattr(settings, "SSRF_ALLOWED_NETWORKS", [])
    if isinstance(allowed_networks, str):
        raise TypeError("allowed_networks must be a list of CIDR strings, not one string")
    networks: list[IPNetwork] = []
    for entry in allowed_networks:
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            raise ValueError(f"invalid SSRF allowed network {entry!r}: {exc}") from exc
    return _Policy(tuple(networks))


# --- URL syntax ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int
    request_uri: str = "/"


def _parse_target(url: str | bytes | None) -> _Target:
    """Scheme, host and port of `url`; refuses non-http(s), userinfo and missing hosts."""
    if isinstance(url, bytes):
        url = url.decode("utf-8", "replace")
    if not url:
        raise UnsafeURLError("the URL is empty")
    try:
        parsed = parse_url(url.strip())
    except LocationParseError as exc:
        raise UnsafeURLError(f"the URL is not valid ({exc})") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURLError(f"only http and https URLs are allowed, not {scheme or 'none'!r}")
    if parsed.auth is not None:
        raise UnsafeURLError("URLs with credentials (user@host) are not allowed")
    if not parsed.host:
        raise UnsafeURLError("the URL has no host")
    return _Target(
        scheme, parsed.host, parsed.port or DEFAULT_PORTS[scheme], parsed.request_uri or "/"
    )


def check_url(url: str, *, allowed_networks: Sequence[str] | None = None) -> None:
    """Refuse, with a readable `UnsafeURLError`, a URL the guarded session would not fetch now.

    For registration-time feedback only: DNS can change before the request is sent, which is why
    the session checks again at connect time on the addresses it actually dials.
    """
    policy = _policy(allowed_networks)
    target = _parse_target(url)
    try:
        policy.resolve(target.host, target.port)
    except _Refused as exc:
        raise UnsafeURLError(exc.reason) from None


# --- urllib3 plumbing: the connect-time check ----------------------------------------------------


def _dial(
    targets: list[tuple[socket.AddressFamily, SockAddr]],
    timeout: _TYPE_TIMEOUT,
    source_address: tuple[str, int] | None,
    socket_options: Sequence[tuple[int, int, int | bytes]] | None,
) -> socket.socket:
    """urllib3's `create_connection`, minus the DNS lookup: try each checked address in order."""
    error: OSError | None = None
    for family, sockaddr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for level, option, value in socket_options or ():
                sock.setsockopt(level, option, value)
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error if error is not None else OSError("no address to connect to")


def _guarded_new_conn(conn: HTTPConnection, policy: _Policy) -> socket.socket:
    # `_dns_host` is the host as given (urllib3 keeps it for DNS); `conn.host` feeds SNI and Host.
    targets = policy.resolve(conn._dns_host, conn.port)
    try:
        sock = _dial(targets, conn.timeout, conn.source_address, conn.socket_options)
    except TimeoutError as exc:
        raise ConnectTimeoutError(
            conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        ) from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


_STRICT: Final = _Policy()


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, ssrf_policy: _Policy = _STRICT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssrf_policy = ssrf_policy

    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self, self._ssrf_policy)


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, ssrf_policy: _Policy = _STRICT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ssrf_policy = ssrf_policy

    def _new_conn(self) -> socket.socket:
        return _guarded_new_conn(self, self._ssrf_policy)


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    def __init__(self, *, ssrf_policy: _Policy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ssrf_policy = ssrf_policy
        self.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        # Connections are created lazily from `conn_kw`; the pool key cannot carry the policy.
        pool.conn_kw["ssrf_policy"] = self._ssrf_policy
        return pool


class _GuardedAdapter(HTTPAdapter):
    __attrs__ = [*HTTPAdapter.__attrs__, "_ssrf_policy"]

    def __init__(self, policy: _Policy) -> None:
        self._ssrf_policy = policy  # before super(), which builds the pool manager
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            ssrf_policy=self._ssrf_policy,
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeURLError("proxies are not supported: the proxy would choose the destination")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        _parse_target(request.url)
        if proxies and select_proxy(request.url or "", dict(proxies)):
            raise UnsafeURLError(
                "proxies are not supported: the proxy would choose the destination",
                request=request,
            )
        try:
            return super().send(
                request,
                stream=stream,
                timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
        except _Refused as exc:
            raise UnsafeURLError(exc.reason, request=request) from None


class _GuardedSession(requests.Session):
    def __init__(self, policy: _Policy) -> None:
        super().__init__()
        self.trust_env = False  # no proxies, netrc or CA bundles from the environment
        self.max_redirects = 0
        adapter = _GuardedAdapter(policy)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        _parse_target(request.url)  # a readable UnsafeURLError before requests' own errors
        return super().prepare_request(request)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        _parse_target(request.url)
        kwargs["allow_redirects"] = False  # a redirect is the caller's failure, never followed
        return super().send(request, **kwargs)

    def resolve_redirects(
        self, resp: requests.Response, req: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> Iterator[Any]:
        return iter(())


def guarded_session(*, allowed_networks: Sequence[str] | None = None) -> requests.Session:
    """A `requests.Session` that only ever connects to public addresses (see module docstring).

    `allowed_networks` (CIDR strings, default `settings.SSRF_ALLOWED_NETWORKS`) exempts exactly
    those addresses, e.g. `["127.0.0.1/32"]` in tests or an internal relay in development.
    """
    return _GuardedSession(_policy(allowed_networks))


def per_thread[T](store: threading.local, name: str, build: Callable[[], T]) -> T:
    """This thread's client kept in `store` under `name` (a session, a pool), built by `build`,
    and built again when SSRF_ALLOWED_NETWORKS changed: the allow-list is part of the client."""
    policy = tuple(getattr(settings, "SSRF_ALLOWED_NETWORKS", []))
    cached: tuple[tuple[str, ...], T] | None = getattr(store, name, None)
    if cached is None or cached[0] != policy:
        cached = (policy, build())
        setattr(store, name, cached)
    return cached[1]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from `GuardedPool.post`: status, headers (case-insensitive) and at most
    `max_body` bytes of the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class TransportError(Exception):
    """The request did not get an answer: refused connection, timeout, reset, bad HTTP."""


class GuardedPool:
    """POSTs to tenant-supplied URLs on the standard library's `http.client`, with the same
    connect-time SSRF check as the session (the host is resolved once, every address checked,
    and only those dialled), keep-alive connections per host, no redirects followed, no retries
    and no proxies. It costs about a third of the CPU of `requests` per message
    (`bench/fanout.py`), which a fan-out of thousands of chat and webhook messages pays.

    One instance per thread (connections are not shared): the notification channels keep one
    in each sending thread.
    """

    def __init__(
        self, *, allowed_networks: Sequence[str] | None = None, ca_certs: str | None = None
    ) -> None:
        self._policy = _policy(allowed_networks)
        # the CA bundle requests uses, too; hostname checks on
        self._tls = ssl.create_default_context(cafile=ca_certs or certifi.where())
        self._kept: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(
        self,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str],
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_body: int = 65_536,
    ) -> Reply:
        """Raises `UnsafeURLError` when the guard refuses the URL or its addresses, and
        `TransportError` when no answer came back."""
        target = _parse_target(url)
        key = (target.scheme, target.host, target.port)
        connection = self._kept.pop(key, None)
        if connection is None or _dropped(connection):
            if connection is not None:
                connection.close()
            connection = self._open(target, timeout)
        try:
            connection.request("POST", target.request_uri, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read(max_body + 1)  # to the end, or one byte past the limit
        except _Refused as exc:
            connection.close()
            raise UnsafeURLError(exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if len(data) <= max_body and response.isclosed() and not response.will_close:
            self._kept[key] = connection  # answered in full: the connection can be reused
        else:
            connection.close()  # a long answer is cut, not drained: the connection goes
        return Reply(
            status=response.status,
            headers=CaseInsensitiveDict(response.getheaders()),
            body=data[:max_body],
        )

    def _open(self, target: _Target, timeout: tuple[float, float]) -> http.client.HTTPConnection:
        policy, (connect_timeout, read_timeout) = self._policy, timeout
        host, port = target.host, target.port

        def dial(
            address: tuple[str, int], timeout: float, source: tuple[str, int] | None = None
        ) -> socket.socket:
            sock = _dial(policy.resolve(host, port), timeout, source, None)
            sock.settimeout(read_timeout)
            return sock

        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        connection._create_connection = dial  # type: ignore[attr-defined]
        return connection


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """A kept connection the server has closed (or sent something unasked): readable now."""
    sock = connection.sock
    if sock is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after(response: _HasHeaders) -> timedelta | None:
    """The Retry-After header (seconds or an HTTP date) as a delay; None when absent/invalid."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        if raw.isdigit():
            return timedelta(seconds=int(raw))
        return max(parsedate_to_datetime(raw) - timezone.now(), timedelta(0))
    except (TypeError, ValueError):
        return None
