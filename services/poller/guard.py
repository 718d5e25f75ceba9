"""Refuse to connect to private, loopback, link-local and metadata addresses (SSRF).

A feed, a redirect or an article link is text from the internet; without this guard it
could make the poller read an internal service. The check runs where the connection is
made (a network backend under httpx), on the addresses the name resolved to, and the
connection goes to the address that was checked: a redirect to 169.254.169.254 or a name
that resolves to 10.0.0.1 is refused like a literal one, and a name cannot resolve to a
public address for the check and a private one for the connection.

Allowed exceptions come from NEWSFLOW_ALLOW_PRIVATE_HOSTS (host names, addresses or networks),
e.g. 127.0.0.1 in tests.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlparse

import httpcore
from httpcore._backends.auto import AutoBackend

NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    pass


def parse_allowed(value: str) -> frozenset[str]:
    return frozenset(item.strip().lower() for item in value.split(",") if item.strip())


def _allowed(host: str, address: ipaddress._BaseAddress, allow: frozenset[str]) -> bool:
    if host.lower() in allow or str(address) in allow:
        return True
    for item in allow:
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


def is_public(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return is_public(address.ipv4_mapped)
        if address in NAT64:  # an IPv4 address in a NAT64 prefix reaches that IPv4 address
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    # is_global excludes private, loopback, link-local (169.254.169.254), shared (100.64/10),
    # documentation and reserved ranges; multicast is never a web server.
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int = 0) -> list[ipaddress._BaseAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def checked_addresses(host: str, allow: frozenset[str], port: int = 0) -> list[ipaddress._BaseAddress]:
    """The addresses `host` resolves to; AddressRefused when any of them is not public and not allowed."""
    addresses = await resolve(host, port)
    for address in addresses:
        if not is_public(address) and not _allowed(host, address, allow):
            raise AddressRefused(f"refused to connect to {host} at non-public address {address}")
    return addresses


async def check_url(url: str, allow: frozenset[str]) -> None:
    host = urlparse(url).hostname
    if not host:
        raise AddressRefused(f"{url}: no host")
    await checked_addresses(host, allow)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(self, allow: frozenset[str]):
        self.allow = allow
        self.inner = AutoBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, self.allow, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout=timeout,
                                                    local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise AddressRefused("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
