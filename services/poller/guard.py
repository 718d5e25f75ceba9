"""Refuse to connect to private, loopback, link-local and metadata addresses (SSRF).

A feed, a redirect or an article link is text from the internet; without this guard it
could make the poller read an internal service. Two checks, both before any connection:
an address written in a URL (http://169.254.169.254/, every redirect hop included) is
checked by `check_literal`; a name is checked by `GuardedResolver`, aiohttp's resolver,
on the addresses it resolved to, and aiohttp connects to exactly those addresses, so a name
cannot resolve to a public address for the check and a private one for the connection.

Allowed exceptions come from NEWSFLOW_ALLOW_PRIVATE_HOSTS (host names, addresses or networks),
e.g. 127.0.0.1 in tests.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlparse

from aiohttp.abc import AbstractResolver

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


def check_literal(url: str, allow: frozenset[str]) -> None:
    """AddressRefused when the URL's host is an IP address that is not public and not allowed."""
    host = (urlparse(url).hostname or "").strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: GuardedResolver checks what it resolves to
    if not is_public(address) and not _allowed(host, address, allow):
        raise AddressRefused(f"refused to connect to non-public address {address}")


async def resolve(host: str, port: int = 0) -> list[tuple[ipaddress._BaseAddress, int]]:
    """(address, family) pairs of a name."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
    found = {}
    for family, _, _, _, sockaddr in infos:
        found.setdefault(ipaddress.ip_address(sockaddr[0].split("%")[0]), family)
    return list(found.items())


async def check_url(url: str, allow: frozenset[str]) -> None:
    """Both checks for one URL (what a connection to it would go through)."""
    host = urlparse(url).hostname
    if not host:
        raise AddressRefused(f"{url}: no host")
    check_literal(url, allow)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        await GuardedResolver(allow).resolve(host)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: the name's addresses, or AddressRefused if any is not public and not allowed."""

    def __init__(self, allow: frozenset[str]):
        self.allow = allow

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict]:
        found = await resolve(host, port)
        for address, _ in found:
            if not is_public(address) and not _allowed(host, address, self.allow):
                raise AddressRefused(f"refused to connect to {host} at non-public address {address}")
        return [{"hostname": host, "host": str(address), "port": port, "family": fam, "proto": 0,
                 "flags": socket.AI_NUMERICHOST} for address, fam in found]

    async def close(self) -> None:
        pass
