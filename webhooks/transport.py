"""An HTTP POST that cannot be turned against our own network (SSRF, OWASP API7).

The host is resolved at every delivery, and every address it resolves to must be public: a name that pointed
at a public address when it was registered may point at 169.254.169.254 today. The connection then goes to the
address that was checked (with the original Host header and TLS server name), so a second, different DNS answer
cannot slip in between check and connect. Redirects are never followed; the answer is read with a size and a
time limit.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

LOOPBACK_HOST = "127.0.0.1"
METADATA = ipaddress.ip_network("169.254.0.0/16")  # cloud metadata services (169.254.169.254) live here
CHUNK_BYTES = 4096
MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(ValueError):
    """The URL may not be called: the message says why, in words fit for the developer who entered it."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to call it (`host`)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: bytes
    duration_ms: int
    error: str = ""


def _literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling the C resolver accepts (`2130706433`, `0177.0.0.1`)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_forbidden(address: IPAddress) -> bool:
    """Loopback, private, link-local (metadata), multicast, reserved, unspecified, ULA, or anything not global."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in METADATA)
    )


def check_url(url: str, *, allow_loopback: bool) -> tuple[str, str, int, str]:
    """Refuse a URL by its shape alone (scheme, credentials, literal addresses); returns scheme, host, port, path."""
    if len(url) > MAX_URL_LENGTH or any(ord(char) < 33 for char in url):
        raise RefusedTarget("Give a URL without spaces or control characters, at most 2000 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedTarget("This is not a valid URL.") from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise RefusedTarget("Use an https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("Credentials in the URL are not allowed; verify the signature instead.")
    if parts.fragment:
        raise RefusedTarget("A URL fragment is never sent; leave it out.")
    loopback = allow_loopback and parts.scheme == "http" and host == LOOPBACK_HOST
    if parts.scheme == "http" and not loopback:
        raise RefusedTarget("Use an https:// URL.")
    literal = _literal_address(host)
    if literal is not None and not loopback and is_forbidden(literal):
        raise RefusedTarget("This address is internal (loopback, private, link-local or reserved).")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def check_registration(url: str, *, allow_loopback: bool) -> None:
    """At registration: the shape, and the host's addresses if it resolves already (it may not yet; delivery
    checks again every time anyway)."""
    try:
        resolve(url, allow_loopback=allow_loopback)
    except Unresolvable:
        pass


class Unresolvable(RefusedTarget):
    """The host name has no address (now)."""


def resolve(url: str, *, allow_loopback: bool) -> Target:
    """Check the URL and resolve its host now; every address must be public (or the allowed loopback)."""
    scheme, host, port, path = check_url(url, allow_loopback=allow_loopback)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolvable("The host name does not resolve.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    loopback = allow_loopback and scheme == "http" and host == LOOPBACK_HOST
    for address in addresses:
        allowed = address == ipaddress.IPv4Address(LOOPBACK_HOST) if loopback else not is_forbidden(address)
        if not allowed:
            raise RefusedTarget("The host resolves to an internal address (loopback, private, link-local or reserved).")
    if not addresses:
        raise Unresolvable("The host name does not resolve.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float, max_bytes: int) -> Answer:
    """POST `body` to the checked address; never follows a redirect; reads at most `max_bytes` within `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        # Connect to the checked address, but present and verify the certificate for the host name.
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            port=target.port,
            timeout=limits,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, port=target.port, timeout=limits, retries=False)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        received = _read_bounded(response, deadline=deadline, max_bytes=max_bytes)
        return Answer(status=response.status, body=received, duration_ms=_elapsed_ms(started))
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return Answer(status=None, body=b"", duration_ms=_elapsed_ms(started), error=_describe(error))
    finally:
        pool.close()


def _read_bounded(response: urllib3.BaseHTTPResponse, *, deadline: float, max_bytes: int) -> bytes:
    """At most `max_bytes` of the body, until `deadline` at the latest: each socket read may only wait for the
    time left, so a receiver dripping one byte at a time cannot hold a worker. The status already arrived, so a
    body cut short still counts as the receiver's answer."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    received = bytearray()
    try:
        while len(received) < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read1(min(CHUNK_BYTES, max_bytes - len(received)))
            if not chunk:
                break
            received += chunk
    except (urllib3.exceptions.HTTPError, OSError):
        pass  # timed out or cut off mid-body: keep what came
    return bytes(received)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(error: Exception) -> str:
    """A short, address-free reason for the delivery log."""
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "Timed out."
    if isinstance(error, urllib3.exceptions.SSLError):
        return "TLS handshake failed (certificate not valid for the host?)."
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "Connection refused or unreachable."
    return f"Connection failed ({type(error).__name__})."
