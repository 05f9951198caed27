"""Where model URLs may lead: public addresses, and private ones an admin allow-lists (MODEL_URL_ALLOW).

A URL is checked when a project's model is saved and again on every connection; the connection goes to the very
address that was checked (no second DNS lookup an attacker could rebind) and redirects are never followed."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from db.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")
RESOLVE_SECONDS = 5.0
ALLOW_HINT = "an admin can allow it with MODEL_URL_ALLOW"


@dataclass(frozen=True)
class AllowList:
    """Host names (matched exactly, any address they resolve to is accepted) and networks (an address inside one
    is accepted whatever kind it is)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @staticmethod
    def parse(raw: str) -> AllowList:
        """Comma-separated host names, IP addresses and CIDR networks; ValueError names an entry that is none."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in filter(None, (e.strip().lower() for e in raw.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if not _HOST_NAME.match(entry):
                    raise ValueError(entry) from None
                hosts.add(entry.rstrip("."))
        return AllowList(frozenset(hosts), tuple(networks))

    def names(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def covers(self, address: Address) -> bool:
        return any(form in net for form in _forms(address) for net in self.networks)


class Refused(httpcore.ConnectError):
    """A connection the allow-list does not permit; the message says why."""


def _forms(address: Address) -> list[Address]:
    """The address and the IPv4 address it carries (IPv4-mapped, 6to4, Teredo client), which is where it leads."""
    forms: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        forms += [a for a in (address.ipv4_mapped, address.sixtofour, (address.teredo or (None, None))[1]) if a]
    return forms


def refusal(address: Address) -> str | None:
    """What kind of address a model may not be reached at this is, e.g. "a loopback address" (None: public). The
    IPv4 address a v6 one carries decides first: that is where it leads."""
    for form in reversed(_forms(address)):
        carried = "" if form is address else f" (it carries {form})"
        for kind, flag in (("an unspecified", form.is_unspecified), ("a loopback", form.is_loopback),
                           ("a link-local", form.is_link_local), ("a multicast", form.is_multicast),
                           ("a private", form.is_private), ("a reserved", form.is_reserved),
                           ("a non-public", not form.is_global)):
            if flag:
                return f"{kind} address{carried}"
    return None


async def _resolve(host: str, port: int) -> list[Address]:
    """Every address the host name (or numeric form, e.g. 2130706433) stands for, looked up off the event loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
    except (OSError, UnicodeError, TimeoutError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def checked_address(host: str, port: int, allow: AllowList) -> str:
    """The address to connect to for host: every address it resolves to must be allowed (one bad answer refuses
    it all, so a mixed answer cannot be raced). Refused says why not."""
    if allow.names(host):
        return host
    host = host.strip("[]")
    addresses = await _resolve(host, port)
    if not addresses:
        raise Refused(f"{host} does not resolve")
    for address in addresses:
        kind = None if allow.covers(address) else refusal(address)
        if kind:
            literal = _literal(host) == address
            raise Refused(f"{host} is {kind}" if literal else f"{host} resolves to {address}, {kind}")
    return str(addresses[0])


async def check_url(url: str, allow: AllowList) -> None:
    """VALIDATION naming the reason when the URL leads somewhere a model may not be (checked again on connection)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Invalid(f"location: {url!r} has no valid port") from None
    try:
        await checked_address(parts.hostname or "", port, allow)
    except Refused as exc:
        raise Invalid(f"location is refused: {exc}; {ALLOW_HINT}", reason=str(exc)) from None


def refused_reason(exc: BaseException) -> str | None:
    """The allow-list's reason when a request failed because its connection was refused by it."""
    while exc is not None:
        if isinstance(exc, Refused):
            return str(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


class _CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to checked addresses only; TLS still names the original host (SNI, certificate)."""

    def __init__(self, allow: AllowList) -> None:
        self.allow, self.inner = allow, httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port, self.allow)
        return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise Refused("unix sockets are not model endpoints")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a pool that connects through _CheckedNetwork. httpx takes no network backend,
    so the pool it would build is replaced (httpx is pinned; handle_async_request and aclose use only _pool)."""

    def __init__(self, allow: AllowList) -> None:
        self._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=100,
                                                  max_keepalive_connections=20, keepalive_expiry=5.0,
                                                  network_backend=_CheckedNetwork(allow))


def model_client(allow: AllowList, timeout: httpx.Timeout, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
    """The HTTP client every model request goes through: checked connections, no redirects, no proxies from the
    environment (a proxy would hide the target from the check)."""
    return httpx.AsyncClient(transport=_CheckedTransport(allow), timeout=timeout, auth=auth, follow_redirects=False,
                             trust_env=False)
