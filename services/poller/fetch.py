"""Fetching feed bodies: HTTP(S) with validators, timeouts and a size cap, or local files.

Every failure is a FetchError with an `outcome` label for metrics and a readable reason;
what to do about it (backoff, Retry-After) is the scheduler's business.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

import httpcore

from services.poller.guard import AddressRefused, GuardedBackend
from shared.metrics import version

PERMANENT = (301, 308)


class FetchError(Exception):
    def __init__(self, reason: str, outcome: str = "error", status: int | None = None,
                 retry_after_s: float | None = None):
        super().__init__(reason)
        self.outcome = outcome  # "4xx", "5xx", "timeout", "too_large", "refused", "error"
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass
class Fetched:
    body: bytes  # empty when not_modified
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    not_modified: bool = False
    moved_to: str | None = None  # the new URL after only permanent redirects
    url: str = ""  # where the body came from, after redirects

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def user_agent() -> str:
    return f"newsflow/{version()}"


def make_client(
    *, allow_hosts: frozenset[str] = frozenset(), connect_timeout_s: float = 10.0, read_timeout_s: float = 20.0,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """An httpx client whose every connection, redirects included, passes the address guard."""
    transport = httpx.AsyncHTTPTransport()
    # httpx takes no network backend; its pool does. Same pool, our backend (httpx 0.27-0.28).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
        network_backend=GuardedBackend(allow_hosts),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": user_agent(), "Accept-Encoding": "gzip, deflate"},
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    total_timeout_s: float,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET `url` through `client` (see make_client: the address guard lives there)."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises on a malformed netloc ("http://[::1/x", ":99999")
    except ValueError as exc:
        raise FetchError(f"{url}: invalid URL: {exc}") from None
    if parsed.scheme in ("file", ""):
        path = Path(unquote(parsed.path) if parsed.scheme else url)
        return Fetched(await asyncio.to_thread(read_file, path, max_bytes), 200, url=url)
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme {parsed.scheme!r} in {url}")
    request_headers = dict(headers or {})
    if etag:
        request_headers["If-None-Match"] = etag
    if last_modified:
        request_headers["If-Modified-Since"] = last_modified
    try:
        return await asyncio.wait_for(_get(client, url, request_headers, max_bytes), total_timeout_s)
    except (asyncio.TimeoutError, httpx.TimeoutException):
        raise FetchError(f"{url}: timed out", "timeout") from None
    except AddressRefused as exc:
        raise FetchError(f"{url}: {exc}", "refused") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: too many redirects") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], max_bytes: int) -> Fetched:
    async with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status >= 400:
            kind = "4xx" if status < 500 else "5xx"
            retry = retry_after(response.headers.get("retry-after"))
            raise FetchError(f"HTTP {status} from {url}", kind, status, retry)
        moved = None
        if response.history and all(r.status_code in PERMANENT for r in response.history):
            moved = str(response.url)
        info = {k.lower(): v for k, v in response.headers.items()}
        if status == 304:
            return Fetched(b"", 304, info, not_modified=True, moved_to=moved, url=str(response.url))
        declared = int(response.headers.get("content-length") or 0)
        if declared > max_bytes and "content-encoding" not in info:
            raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte cap", "too_large")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded: the cap holds after gunzip too
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"{url}: body over the {max_bytes}-byte cap", "too_large")
        return Fetched(bytes(body), status, info, moved_to=moved, url=str(response.url))


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from datetime import datetime, timezone

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def read_file(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"{path}: {size} bytes is over the {max_bytes}-byte cap", "too_large")
        return path.read_bytes()
    except OSError as exc:
        raise FetchError(f"{path}: {exc.strerror or exc}") from None
