"""Refuse to fetch private, loopback, link-local and metadata addresses (SSRF).

A feed or an article link is text from the internet; without this guard it could make the
poller read an internal service. Allowed exceptions come from NEWSFLOW_ALLOW_PRIVATE_HOSTS
(host names, addresses or networks), e.g. 127.0.0.1 in tests.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlparse


class AddressRefused(Exception):
    pass


class HostUnresolvable(AddressRefused):
    """Not a refusal but a plain failure: the name does not resolve."""


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
    return not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
        or address.is_multicast or address.is_unspecified
    )


async def check_url(url: str, allow: frozenset[str]) -> None:
    host = urlparse(url).hostname
    if not host:
        raise AddressRefused(f"{url}: no host")
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise HostUnresolvable(f"{url}: cannot resolve {host}: {exc.strerror}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not is_public(address) and not _allowed(host, address, allow):
            raise AddressRefused(f"{url}: refused to fetch from non-public address {address}")
