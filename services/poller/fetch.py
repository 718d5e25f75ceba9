"""Fetching feed bodies: HTTP(S) with timeouts and a size cap, or local files."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from shared.metrics import version


class FetchError(Exception):
    pass


def user_agent() -> str:
    return f"newsflow/{version()}"


def fetch(url: str, *, timeout_s: float, max_bytes: int, headers: dict[str, str] | None = None) -> bytes:
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return _fetch_http(url, timeout_s, max_bytes, headers or {})
    if parsed.scheme in ("file", ""):
        return _read_file(Path(unquote(parsed.path) if parsed.scheme else url), max_bytes)
    raise FetchError(f"unsupported URL scheme {parsed.scheme!r} in {url}")


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"{path}: {size} bytes is over the {max_bytes}-byte cap")
        return path.read_bytes()
    except OSError as exc:
        raise FetchError(f"{path}: {exc.strerror or exc}") from None


def _fetch_http(url: str, timeout_s: float, max_bytes: int, headers: dict[str, str]) -> bytes:
    request_headers = {"User-Agent": user_agent(), **headers}
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True, max_redirects=5) as client:
            with client.stream("GET", url, headers=request_headers) as response:
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code} from {url}")
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte cap")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"{url}: body over the {max_bytes}-byte cap")
                return bytes(body)
    except httpx.TimeoutException:
        raise FetchError(f"{url}: timed out after {timeout_s} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
