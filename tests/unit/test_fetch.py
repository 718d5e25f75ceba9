"""fetch() against a real HTTP server on 127.0.0.1; the scheduler and the address guard."""
from __future__ import annotations

import asyncio
import random

import pytest

from services.poller.fetch import FetchError, fetch, make_client, retry_after
from services.poller.guard import AddressRefused, check_url, parse_allowed
from services.poller.schedule import max_age_s, next_delay
from tests.feedserver import FeedServer, Reply

LOCAL = parse_allowed("127.0.0.1")
RSS = b"<rss version='2.0'><channel><title>t</title><item><title>a</title></item></channel></rss>"


@pytest.fixture(scope="module")
def server():
    s = FeedServer()
    yield s
    s.close()


def get(server, path, **kw):
    async def go():
        async with make_client(read_timeout_s=kw.pop("read_timeout_s", 5), allow_hosts=kw.pop("allow", LOCAL)) as client:
            return await fetch(client, server.url(path), total_timeout_s=kw.pop("total", 5),
                               max_bytes=kw.pop("max_bytes", 100_000), **kw)
    return asyncio.run(go())


def test_ok_with_validators_and_user_agent(server):
    server.routes["/ok"] = lambda h: Reply(200, RSS, {"ETag": '"v1"', "Last-Modified": "Mon, 16 Nov 2026 07:30:00 GMT"})
    got = get(server, "/ok")
    assert got.body == RSS and got.etag == '"v1"' and got.last_modified.startswith("Mon")
    assert server.requests[-1][1]["user-agent"].startswith("newsflow/")


def test_conditional_get_sends_validators_and_understands_304(server):
    def route(h):
        return Reply(304) if h.get("if-none-match") == '"v1"' or h.get("if-modified-since") else Reply(200, RSS)
    server.routes["/cond"] = route
    assert get(server, "/cond", etag='"v1"').not_modified
    assert get(server, "/cond", last_modified="Mon, 16 Nov 2026 07:30:00 GMT").not_modified
    assert get(server, "/cond").body == RSS


@pytest.mark.parametrize("code, moved", [(301, True), (308, True), (302, False), (307, False)])
def test_redirects_followed_and_permanent_ones_reported(server, code, moved):
    server.routes[f"/r{code}"] = lambda h: Reply(code, headers={"Location": "/ok"})
    got = get(server, f"/r{code}")
    assert got.body == RSS
    assert (got.moved_to == server.url("/ok")) is moved


def test_gzip_is_decoded(server):
    server.routes["/gz"] = lambda h: Reply(200, RSS, gzip=True)
    assert get(server, "/gz").body == RSS


@pytest.mark.parametrize(
    "reply, outcome, match",
    [
        (Reply(404), "4xx", "HTTP 404"),
        (Reply(500), "5xx", "HTTP 500"),
        (Reply(200, b"x" * 200_000), "too_large", "cap"),
        (Reply(200, gzip=True, body=b"<" * 5_000_000), "too_large", "cap"),  # a gzip bomb stays capped
        (Reply(200, endless=True), "too_large", "cap"),
        (Reply(200, RSS, delay_s=2), "timeout", "timed out"),
    ],
)
def test_failures_have_an_outcome(server, reply, outcome, match):
    path = f"/fail-{outcome}-{reply.status}-{reply.gzip}-{reply.endless}"
    server.routes[path] = lambda h: reply
    with pytest.raises(FetchError, match=match) as info:
        get(server, path, total=1)
    assert info.value.outcome == outcome


def test_429_carries_retry_after(server):
    server.routes["/busy"] = lambda h: Reply(429, headers={"Retry-After": "120"})
    with pytest.raises(FetchError) as info:
        get(server, "/busy")
    assert info.value.retry_after_s == 120 and info.value.status == 429
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/feed",
                                 "http://[::1]/feed", "http://192.168.1.5/x", "http://127.0.0.1/x"])
def test_guard_refuses_non_public_addresses(url):
    with pytest.raises(AddressRefused, match="non-public"):
        asyncio.run(check_url(url, frozenset()))


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/feed",
                                    "http://[::ffff:10.0.0.1]/feed", "http://100.64.0.1/x"])
def test_redirect_to_a_private_address_is_refused(server, target):
    # 127.0.0.1 is allowed (the test server), the redirect's target is not: refused before connecting.
    server.routes["/to-private"] = lambda h: Reply(302, headers={"Location": target})
    with pytest.raises(FetchError, match="non-public") as info:
        get(server, "/to-private")
    assert info.value.outcome == "refused"


def test_guard_lets_configured_hosts_through():
    asyncio.run(check_url("http://127.0.0.1/x", parse_allowed("127.0.0.1")))
    asyncio.run(check_url("http://10.1.2.3/x", parse_allowed("10.0.0.0/8")))
    asyncio.run(check_url("http://93.184.216.34/x", frozenset()))  # a public address needs no permission


def test_refused_fetch_is_counted_as_refused(server):
    with pytest.raises(FetchError) as info:
        get(server, "/ok", allow=frozenset())
    assert info.value.outcome == "refused"


def test_schedule_backoff_hints_and_jitter():
    rng = random.Random(1)
    base = dict(interval_s=900, max_backoff_s=6 * 3600, jitter=0.0)
    assert next_delay(error_count=0, **base) == 900
    assert [next_delay(error_count=n, **base) for n in (1, 2, 3)] == [900, 1800, 3600]
    assert next_delay(error_count=20, **base) == 6 * 3600  # capped, never given up
    assert next_delay(error_count=0, cache_max_age_s=3600, **base) == 3600
    assert next_delay(error_count=0, ttl_s=120, **base) == 900  # hints only raise the interval
    assert next_delay(error_count=0, cache_max_age_s=10**9, **base) == 6 * 3600
    assert next_delay(error_count=1, retry_after_s=7200, **base) == 7200
    jittered = {round(next_delay(error_count=0, interval_s=900, max_backoff_s=1e5, rng=rng)) for _ in range(20)}
    assert len(jittered) > 10 and all(810 <= d <= 990 for d in jittered)
    assert max_age_s("public, max-age=300") == 300 and max_age_s(None) is None


def test_a_name_resolving_to_a_private_address_is_refused_by_the_resolver(server):
    server.routes["/named"] = lambda h: Reply(200, RSS)
    port = server.httpd.server_address[1]

    async def go(allow):
        async with make_client(allow_hosts=allow) as client:
            return await fetch(client, f"http://localhost:{port}/named", total_timeout_s=5, max_bytes=10_000)

    with pytest.raises(FetchError, match="localhost at non-public address") as info:
        asyncio.run(go(frozenset()))
    assert info.value.outcome == "refused"
    assert asyncio.run(go(parse_allowed("localhost"))).body == RSS
