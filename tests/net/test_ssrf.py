"""SSRF matrix (G8): no tenant URL makes us open a TCP connection to a non-public address.

DNS is a fake resolver (`socket.getaddrinfo` patched) and every `connect` is recorded: a connect
to anything but this test's own local server raises `Dialled` before a packet leaves, so the
"allowed" cases prove the guard let the request through without touching the network.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import pickle
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crisis_api import net
from crisis_api.net import (
    DEFAULT_TIMEOUT,
    GuardedPool,
    TransportError,
    UnsafeURLError,
    check_url,
    guarded_session,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


# --- Fakes: DNS and the socket layer --------------------------------------------------------------


class Dialled(Exception):
    """Raised in place of a real connect: the guard let the request through to the socket."""


@dataclass
class Dials:
    """Every connect attempt: (address, socket timeout)."""

    attempts: list[tuple[tuple[Any, ...], float | None]] = field(default_factory=list)
    passthrough: set[tuple[str, int]] = field(default_factory=set)
    refuse: set[str] = field(default_factory=set)

    @property
    def addresses(self) -> list[tuple[Any, ...]]:
        return [address for address, _ in self.attempts]


@pytest.fixture(autouse=True)
def dials(monkeypatch: pytest.MonkeyPatch) -> Dials:
    recorder = Dials()
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        recorder.attempts.append((tuple(address), sock.gettimeout()))
        if tuple(address[:2]) in recorder.passthrough:
            return real_connect(sock, address)
        if address[0] in recorder.refuse:
            raise ConnectionRefusedError(111, "Connection refused")
        raise Dialled(address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        recorder.attempts.append((tuple(address), sock.gettimeout()))
        raise Dialled(address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        recorder.attempts.append((tuple(address), None))
        raise Dialled(address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return recorder


DNS: dict[str, list[list[str]]] = {
    "hooks.example.com": [[PUBLIC_V4]],
    "v6.example.com": [[PUBLIC_V6]],
    "dual.example.com": [[PUBLIC_V6, PUBLIC_V4]],
    "redis": [["172.18.0.5"]],
    "postgres": [["10.0.0.7"]],
    "metadata.google.internal": [["169.254.169.254"]],
    "kubernetes.default.svc": [["10.96.0.1"]],
    "cgnat.example.com": [["100.64.12.34"]],
    "ula.example.com": [["fd00::1"]],
    "mapped.example.com": [["::ffff:127.0.0.1"]],
    "linklocal6.example.com": [["fe80::1%eth0"]],
    "mixed.example.com": [[PUBLIC_V4, "10.0.0.1"]],
    "mixed-first.example.com": [["10.0.0.1", PUBLIC_V4]],
    "mixed6.example.com": [[PUBLIC_V4, PUBLIC_V6, "::1"]],
    "empty.example.com": [[]],
    "hooks.customer.test": [["127.0.0.1"]],
}


class FakeResolver:
    """`socket.getaddrinfo` over a table; a name with several answers gives them in turn."""

    def __init__(self) -> None:
        self.answers = {name: [list(a) for a in answers] for name, answers in DNS.items()}
        self.queries: list[str] = []

    def __call__(self, host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        self.queries.append(host)
        answers = self.answers.get(str(host).rstrip(".").lower())
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        infos: list[tuple[Any, ...]] = []
        for address in answer:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


# --- A real HTTP(S) server on 127.0.0.1 -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Host")))
        location = {"/redirect-private": "http://10.0.0.1/", "/redirect-same": "/ok"}.get(self.path)
        self.send_response(302 if location else 200)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/big":
            return self.do_GET()
        self.server.seen.append((self.path, self.headers.get("Host")))
        self.send_response(200)
        self.send_header("Content-Length", str(BIG_ANSWER))
        self.end_headers()
        self.wfile.write(b"x" * BIG_ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        pass


BIG_ANSWER = 200_000


class LocalServer(HTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str | None]] = []
        self.sni: list[str | None] = []
        self.port: int = self.server_address[1]


@contextlib.contextmanager
def serving(server: HTTPServer, dials: Dials) -> Iterator[None]:
    """`server` answering on 127.0.0.1 from a thread, and let through the fake socket layer."""
    dials.passthrough.add(("127.0.0.1", server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def local_server(dials: Dials) -> Iterator[LocalServer]:
    server = LocalServer()
    with serving(server, dials):
        yield server


def _self_signed(hostname: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(local_server: LocalServer, tmp_path: Path) -> tuple[LocalServer, Path]:
    """The local server behind TLS with a certificate for `hooks.customer.test` only."""
    cert_path, key_path = _self_signed("hooks.customer.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda _sock, name, _ctx: local_server.sni.append(name)
    local_server.socket = context.wrap_socket(local_server.socket, server_side=True)
    return local_server, cert_path


# --- The matrix -----------------------------------------------------------------------------------

BLOCKED_LITERALS = [
    # loopback
    "http://127.0.0.1/",
    "http://127.0.0.1:8000/admin/",
    "http://127.255.255.254/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://[::1]:6379/",
    # RFC 1918
    "http://10.0.0.1/",
    "http://10.255.255.254:8080/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://192.168.1.1:8443/",
    # CGNAT
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    # link-local and cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fe80::a9fe:a9fe]/",
    # unspecified / "this network"
    "http://0.0.0.0/",
    "http://0.0.0.0:8000/",
    "http://0.1.2.3/",
    "http://[::]/",
    # IPv6 forms of IPv4
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[::127.0.0.1]/",
    # ULA and site-local
    "http://[fc00::1]/",
    "http://[fd12:3456:789a::1]/",
    "http://[fec0::1]/",
    # integer / hex / octal / short spellings
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://017700000001/",
    "http://167772161/",
    "http://0xa9fea9fe/",
    "http://0xA9.0xFE.0xA9.0xFE/",
    # multicast, broadcast, reserved, special-purpose
    "http://224.0.0.1/",
    "http://239.255.255.250:1900/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.0.9/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://203.0.113.7/",
]

BLOCKED_NAMES = [
    "http://localhost/",
    "http://localhost:8000/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://redis/",
    "http://redis:6379/",
    "http://postgres:5432/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://kubernetes.default.svc/",
    "http://cgnat.example.com/",
    "http://ula.example.com/",
    "http://mapped.example.com/",
    "http://linklocal6.example.com/",
    "http://mixed.example.com/",
    "http://mixed-first.example.com/",
    "http://mixed6.example.com/",
    "http://nxdomain.example.com/",
    "http://empty.example.com/",
]

BLOCKED_SYNTAX = [
    "https://good.example@127.0.0.1/",
    "https://good.example:443@127.0.0.1/",
    "http://user:pass@hooks.example.com/",
    "http://127.0.0.1:80@hooks.example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "ftp://hooks.example.com/",
    "dict://127.0.0.1:11211/stats",
    "ldap://127.0.0.1/",
    "hooks.example.com/no-scheme",
    "//hooks.example.com/",
    "http:///path-only",
    "http://:80/",
    "",
]

BLOCKED = BLOCKED_LITERALS + BLOCKED_NAMES + BLOCKED_SYNTAX


def test_matrix_is_large_enough() -> None:
    assert len(set(BLOCKED)) == len(BLOCKED) >= 40


@pytest.mark.parametrize("url", BLOCKED)
def test_check_url_refuses(url: str, dials: Dials) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        check_url(url)

    assert caught.value.reason
    assert dials.attempts == []


@pytest.mark.parametrize("url", BLOCKED)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_request_refuses_without_connecting(url: str, method: str, dials: Dials) -> None:
    session = guarded_session()

    with pytest.raises(UnsafeURLError):
        session.request(method, url, json={"event": "incident.declared"})

    assert dials.attempts == []


@pytest.mark.parametrize("url", BLOCKED_LITERALS[:6] + BLOCKED_NAMES[4:])
def test_https_request_refuses_without_connecting(url: str, dials: Dials) -> None:
    with pytest.raises(UnsafeURLError):
        guarded_session().get(url.replace("http://", "https://", 1))

    assert dials.attempts == []


def test_numeric_spellings_are_not_looked_up(resolver: FakeResolver) -> None:
    for url in ["http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/"]:
        with pytest.raises(UnsafeURLError, match=r"loopback"):
            check_url(url)

    assert resolver.queries == []


# --- What gets through, and where it goes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://hooks.example.com/hook", (PUBLIC_V4, 80)),
        ("https://hooks.example.com/hook", (PUBLIC_V4, 443)),
        (f"http://{PUBLIC_V4}:8080/", (PUBLIC_V4, 8080)),
        ("http://v6.example.com/", (PUBLIC_V6, 80, 0, 0)),
        (f"https://[{PUBLIC_V6}]/", (PUBLIC_V6, 443, 0, 0)),
        ("http://[64:ff9b::5db8:d70e]/", ("64:ff9b::5db8:d70e", 80, 0, 0)),
    ],
)
def test_public_address_is_dialled_directly(
    url: str, address: tuple[Any, ...], dials: Dials
) -> None:
    check_url(url)

    with pytest.raises(Dialled):
        guarded_session().post(url, json={})

    assert dials.addresses == [address]


def test_names_are_resolved_as_fqdns(resolver: FakeResolver, dials: Dials) -> None:
    with pytest.raises(Dialled):
        guarded_session().get("http://hooks.example.com/")

    assert resolver.queries == ["hooks.example.com."]


def test_default_timeout_applies_to_connect(dials: Dials) -> None:
    with pytest.raises(Dialled):
        guarded_session().get("http://hooks.example.com/")
    with pytest.raises(Dialled):
        guarded_session().get("http://hooks.example.com/", timeout=(1, 2))

    assert [timeout for _, timeout in dials.attempts] == [DEFAULT_TIMEOUT[0], 1.0]


def test_default_timeout_is_passed_to_the_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def send(self: Any, request: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs["timeout"])
        raise Dialled

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    for timeout in [None, 5]:
        with pytest.raises(Dialled):
            guarded_session().get("http://hooks.example.com/", timeout=timeout)

    assert seen == [DEFAULT_TIMEOUT, 5]


def test_falls_back_only_to_checked_addresses(resolver: FakeResolver, dials: Dials) -> None:
    dials.refuse.add(PUBLIC_V6)

    with pytest.raises(Dialled):
        guarded_session().get("http://dual.example.com/")

    assert dials.addresses == [(PUBLIC_V6, 80, 0, 0), (PUBLIC_V4, 80)]
    assert resolver.queries == ["dual.example.com."]


# --- DNS rebinding and mixed records --------------------------------------------------------------


def test_rebinding_after_registration_is_refused_at_connect(
    resolver: FakeResolver, dials: Dials
) -> None:
    resolver.answers["rebind.example.com"] = [[PUBLIC_V4], ["127.0.0.1"]]
    check_url("http://rebind.example.com/hook")  # registration sees the public answer

    with pytest.raises(UnsafeURLError, match=r"127\.0\.0\.1"):
        guarded_session().post("http://rebind.example.com/hook", json={})

    assert dials.attempts == []


def test_connect_dials_the_address_it_checked(resolver: FakeResolver, dials: Dials) -> None:
    """One lookup per connection: a second answer (127.0.0.1) is never asked for or dialled."""
    resolver.answers["rebind.example.com"] = [[PUBLIC_V4], ["127.0.0.1"]]

    with pytest.raises(Dialled):
        guarded_session().post("http://rebind.example.com/hook", json={})

    assert dials.addresses == [(PUBLIC_V4, 80)]
    assert resolver.queries == ["rebind.example.com."]


@pytest.mark.parametrize(
    "name", ["mixed.example.com", "mixed-first.example.com", "mixed6.example.com"]
)
def test_one_private_record_refuses_the_whole_name(name: str, dials: Dials) -> None:
    with pytest.raises(UnsafeURLError, match=r"resolves to (10\.0\.0\.1|::1)"):
        guarded_session().get(f"https://{name}/")

    assert dials.attempts == []


def test_resolution_failure_is_refused(dials: Dials) -> None:
    with pytest.raises(UnsafeURLError, match=r"could not be resolved"):
        check_url("https://nxdomain.example.com/")
    with pytest.raises(UnsafeURLError, match=r"could not be resolved"):
        guarded_session().get("https://nxdomain.example.com/")

    assert dials.attempts == []


# --- Redirects, proxies, userinfo -----------------------------------------------------------------


@pytest.mark.parametrize("allow_redirects", [True, False])
def test_redirect_to_private_address_is_returned_not_followed(
    local_server: LocalServer, dials: Dials, allow_redirects: bool
) -> None:
    session = guarded_session(allowed_networks=["127.0.0.1/32"])

    response = session.get(
        f"http://127.0.0.1:{local_server.port}/redirect-private", allow_redirects=allow_redirects
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "http://10.0.0.1/"
    assert response.history == []
    assert response.next is None
    assert dials.addresses == [("127.0.0.1", local_server.port)]
    assert [path for path, _ in local_server.seen] == ["/redirect-private"]


def test_redirect_to_an_allowed_address_is_not_followed_either(local_server: LocalServer) -> None:
    session = guarded_session(allowed_networks=["127.0.0.1/32"])

    response = session.get(f"http://127.0.0.1:{local_server.port}/redirect-same")

    assert response.status_code == 302
    assert [path for path, _ in local_server.seen] == ["/redirect-same"]


def test_proxy_environment_is_ignored(monkeypatch: pytest.MonkeyPatch, dials: Dials) -> None:
    for variable in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"]:
        monkeypatch.setenv(variable, "http://10.9.9.9:3128")
    session = guarded_session()

    with pytest.raises(Dialled):
        session.get("http://hooks.example.com/")

    assert session.trust_env is False
    assert dials.addresses == [(PUBLIC_V4, 80)]


def test_explicit_proxy_is_refused(dials: Dials) -> None:
    with pytest.raises(UnsafeURLError, match=r"proxies are not supported"):
        guarded_session().get("http://hooks.example.com/", proxies={"http": "http://10.9.9.9:3128"})

    assert dials.attempts == []


def test_userinfo_is_refused_even_when_the_host_is_public(dials: Dials) -> None:
    with pytest.raises(UnsafeURLError, match=r"credentials"):
        guarded_session().get("https://good.example@hooks.example.com/")

    assert dials.attempts == []


def test_prepared_requests_sent_directly_are_checked(dials: Dials) -> None:
    session = guarded_session()
    prepared = requests.Request("GET", "http://10.0.0.1/").prepare()

    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.1"):
        session.send(prepared)

    prepared.url = "file:///etc/passwd"
    with pytest.raises(UnsafeURLError, match=r"only http and https"):
        session.send(prepared)

    assert dials.attempts == []


# --- Allow-listed networks ------------------------------------------------------------------------


def test_allowed_network_reaches_local_server_with_host_intact(
    local_server: LocalServer, resolver: FakeResolver, dials: Dials
) -> None:
    url = f"http://hooks.customer.test:{local_server.port}/ok"
    check_url(url, allowed_networks=["127.0.0.1/32"])

    response = guarded_session(allowed_networks=["127.0.0.1/32"]).get(url)

    assert response.status_code == 200
    assert response.text == "ok"
    assert local_server.seen == [("/ok", f"hooks.customer.test:{local_server.port}")]
    assert dials.addresses == [("127.0.0.1", local_server.port)]


def test_https_keeps_sni_and_certificate_check_on_the_hostname(
    tls_server: tuple[LocalServer, Path], dials: Dials
) -> None:
    server, ca_file = tls_server
    session = guarded_session(allowed_networks=["127.0.0.1/32"])

    response = session.get(f"https://hooks.customer.test:{server.port}/ok", verify=str(ca_file))

    assert response.status_code == 200
    assert server.sni == ["hooks.customer.test"]
    assert server.seen == [("/ok", f"hooks.customer.test:{server.port}")]
    assert dials.addresses == [("127.0.0.1", server.port)]


def test_https_to_a_literal_address_fails_certificate_check(
    tls_server: tuple[LocalServer, Path],
) -> None:
    server, ca_file = tls_server
    session = guarded_session(allowed_networks=["127.0.0.1/32"])

    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://127.0.0.1:{server.port}/ok", verify=str(ca_file))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/",
        "http://127.255.255.254/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://redis/",
        "http://localhost/",
    ],
)
def test_allowing_one_address_does_not_widen_the_rest(url: str, dials: Dials) -> None:
    """GitLab #293733: allow-listing a local IP must not switch the guard off for others."""
    with pytest.raises(UnsafeURLError):
        check_url(url, allowed_networks=["127.0.0.1/32"])
    with pytest.raises(UnsafeURLError):
        guarded_session(allowed_networks=["127.0.0.1/32"]).get(url)

    assert dials.attempts == []


@pytest.mark.parametrize(
    ("allowed", "ok", "refused"),
    [
        (
            ["127.0.0.1/32"],
            ["http://127.0.0.1/", "http://[::ffff:127.0.0.1]/"],
            ["http://127.0.0.2/"],
        ),
        (["10.0.0.0/8"], ["http://10.1.2.3/", "http://postgres/"], ["http://172.16.0.1/"]),
        (["fd00::/8"], ["http://[fd00::1]/", "http://ula.example.com/"], ["http://[fc00::1]/"]),
        (["10.0.0.0/8"], [], ["http://redis/", "http://127.0.0.1/"]),
    ],
)
def test_allowed_networks_exempt_exactly_their_addresses(
    allowed: list[str], ok: list[str], refused: list[str]
) -> None:
    for url in ok:
        check_url(url, allowed_networks=allowed)
    for url in refused:
        with pytest.raises(UnsafeURLError):
            check_url(url, allowed_networks=allowed)


def test_allowed_networks_default_to_the_setting(
    settings: Any, local_server: LocalServer, dials: Dials
) -> None:
    url = f"http://127.0.0.1:{local_server.port}/ok"
    with pytest.raises(UnsafeURLError):
        guarded_session().get(url)

    settings.SSRF_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    check_url(url)
    assert guarded_session().get(url).status_code == 200
    with pytest.raises(UnsafeURLError):
        check_url("http://10.0.0.1/")


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "not-a-network", "300.0.0.0/8", ""])
def test_invalid_allowed_network_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ValueError, match=r"invalid SSRF allowed network"):
        guarded_session(allowed_networks=[entry])


def test_allowed_networks_must_be_a_list_not_a_string() -> None:
    with pytest.raises(TypeError):
        guarded_session(allowed_networks="127.0.0.1/32")


# --- The error type -------------------------------------------------------------------------------


def test_unsafe_url_error_is_a_request_exception_but_not_a_connection_error() -> None:
    with pytest.raises(requests.RequestException) as caught:
        guarded_session().get("http://169.254.169.254/latest/meta-data/")

    error = caught.value
    assert isinstance(error, UnsafeURLError)
    assert not isinstance(error, requests.ConnectionError)
    assert "169.254.169.254" in error.reason
    assert "link-local" in error.reason
    assert error.request is not None
    assert error.request.url == "http://169.254.169.254/latest/meta-data/"


def test_unsafe_url_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(UnsafeURLError("10.0.0.1 is private")))  # noqa: S301

    assert error.reason == "10.0.0.1 is private"


def test_guarded_session_survives_pickling(dials: Dials) -> None:
    session = pickle.loads(pickle.dumps(guarded_session()))  # noqa: S301

    with pytest.raises(UnsafeURLError):
        session.get("http://127.0.0.1/")
    with pytest.raises(Dialled):
        session.get("http://hooks.example.com/")
    assert dials.addresses == [(PUBLIC_V4, 80)]


def test_connections_built_without_a_policy_fail_closed(dials: Dials) -> None:
    connection = net._GuardedHTTPConnection("127.0.0.1", 80)

    with pytest.raises(net._Refused):
        connection.connect()

    assert dials.attempts == []


# --- The pool the notification channels post through (urllib3 without requests) ------------------


def _pool_post(url: str, pool: GuardedPool | None = None) -> Any:
    return (pool or GuardedPool()).post(url, body=b"{}", headers={"Content-Type": "x"})


@pytest.mark.parametrize("url", BLOCKED)
def test_pool_refuses_without_connecting(url: str, dials: Dials) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        _pool_post(url)

    assert caught.value.reason
    assert dials.attempts == []


@pytest.mark.parametrize("url", BLOCKED_LITERALS[:6] + BLOCKED_NAMES[4:])
def test_pool_refuses_https_without_connecting(url: str, dials: Dials) -> None:
    with pytest.raises(UnsafeURLError):
        _pool_post(url.replace("http://", "https://", 1))

    assert dials.attempts == []


def test_pool_refuses_rebinding_at_connect(resolver: FakeResolver, dials: Dials) -> None:
    resolver.answers["rebind.example.com"] = [[PUBLIC_V4], ["127.0.0.1"]]
    check_url("http://rebind.example.com/hook")

    with pytest.raises(UnsafeURLError, match=r"127\.0\.0\.1"):
        _pool_post("http://rebind.example.com/hook")

    assert dials.attempts == []


def test_pool_dials_the_address_it_checked(resolver: FakeResolver, dials: Dials) -> None:
    dials.refuse.add(PUBLIC_V4)
    with pytest.raises(TransportError):  # the fake socket layer's refusal: no answer came
        _pool_post("http://hooks.example.com/hook")

    assert dials.addresses == [(PUBLIC_V4, 80)]


def test_pool_returns_redirects_without_following(local_server: LocalServer, dials: Dials) -> None:
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"])

    reply = _pool_post(f"http://127.0.0.1:{local_server.port}/redirect-private", pool)

    assert reply.status == 302
    assert reply.headers["location"] == "http://10.0.0.1/"  # case-insensitive headers
    assert [path for path, _ in local_server.seen] == ["/redirect-private"]


def test_pool_keeps_the_host_and_cuts_long_answers(
    local_server: LocalServer, resolver: FakeResolver
) -> None:
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"])
    base = f"http://hooks.customer.test:{local_server.port}"

    small = _pool_post(f"{base}/ok", pool)
    big = pool.post(f"{base}/big", body=b"{}", headers={}, max_body=1_000)

    assert (small.status, small.text) == (200, "ok")
    assert (big.status, len(big.body)) == (200, 1_000)
    assert local_server.seen == [
        ("/ok", f"hooks.customer.test:{local_server.port}"),
        ("/big", f"hooks.customer.test:{local_server.port}"),
    ]


def test_pool_ignores_the_proxy_environment(monkeypatch: pytest.MonkeyPatch, dials: Dials) -> None:
    for variable in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"]:
        monkeypatch.setenv(variable, "http://10.9.9.9:3128")

    with pytest.raises(Dialled):
        _pool_post("http://hooks.example.com/hook")

    assert dials.addresses == [(PUBLIC_V4, 80)]


def test_pool_refuses_userinfo(dials: Dials) -> None:
    with pytest.raises(UnsafeURLError):
        _pool_post("http://hooks.example.com@127.0.0.1/")

    assert dials.attempts == []


def test_pool_keeps_sni_and_certificate_check_on_the_hostname(
    tls_server: tuple[LocalServer, Path], dials: Dials
) -> None:
    server, ca_file = tls_server
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"], ca_certs=str(ca_file))

    reply = _pool_post(f"https://hooks.customer.test:{server.port}/ok", pool)

    assert reply.status == 200
    assert server.sni == ["hooks.customer.test"]
    assert dials.addresses == [("127.0.0.1", server.port)]
    with pytest.raises(TransportError, match="certificate"):  # not the name it was issued for
        _pool_post(f"https://127.0.0.1:{server.port}/ok", pool)


def test_pool_trusts_the_public_ca_bundle_by_default(tls_server: tuple[LocalServer, Path]) -> None:
    server, _ = tls_server
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"])

    with pytest.raises(TransportError, match="certificate verify failed"):  # self-signed
        _pool_post(f"https://hooks.customer.test:{server.port}/ok", pool)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; `/once` answers, then hangs up without saying so."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.close_connection = self.path == "/once"

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def keep_alive_server(dials: Dials) -> Iterator[Any]:
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.connections = 0  # type: ignore[attr-defined]
    server.daemon_threads = True
    with serving(server, dials):
        yield server


def test_pool_keeps_connections_alive(keep_alive_server: Any, dials: Dials) -> None:
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"])
    url = f"http://127.0.0.1:{keep_alive_server.server_address[1]}/hook"

    replies = [_pool_post(url, pool) for _ in range(3)]

    assert [r.status for r in replies] == [200, 200, 200]
    assert keep_alive_server.connections == 1
    assert len(dials.addresses) == 1  # one connect, so one SSRF check for three requests


def test_pool_reconnects_when_the_server_dropped_a_kept_connection(
    keep_alive_server: Any,
) -> None:
    pool = GuardedPool(allowed_networks=["127.0.0.1/32"])
    base = f"http://127.0.0.1:{keep_alive_server.server_address[1]}"

    assert _pool_post(f"{base}/once", pool).status == 200  # the server hangs up after this
    time.sleep(0.2)
    assert _pool_post(f"{base}/hook", pool).status == 200

    assert keep_alive_server.connections == 2
