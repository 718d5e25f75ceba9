"""The feeds of the poller benchmark, served by aiohttp (asyncio) in a process of its own so
that the server is not what is measured. GET /feed/<i>: 20 entries; an ETag per feed and
version, 304 when the client sends it. POST /version/<v>: every feed changes (new entries)."""
from __future__ import annotations

import argparse
import random

from aiohttp import web

WORDS = ("harbour council budget tariff railway senator drought shipment reservoir festival bridge "
         "minister coastline regulator merger satellite vaccine parliament election ferry").split()


def feed_body(i: int, version: int, entries: int) -> bytes:
    rng = random.Random(i * 1000 + version)
    items = []
    for j in range(entries):
        words = " ".join(rng.choice(WORDS) for _ in range(60))
        items.append(
            f"<item><guid isPermaLink='false'>bench-{i}-{version}-{j}</guid>"
            f"<title>Report {j} of desk {i}: the {rng.choice(WORDS)} and the {rng.choice(WORDS)}</title>"
            f"<link>https://desk{i}.example.org/{version}/{j}?utm_source=rss</link>"
            f"<description>&lt;p&gt;{words}.&lt;/p&gt;</description>"
            f"<pubDate>Mon, 16 Nov 2026 07:{j:02d}:00 GMT</pubDate></item>"
        )
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Desk {i}</title>"
            f"<link>https://desk{i}.example.org/</link>{''.join(items)}</channel></rss>").encode()


def make_app(entries: int) -> web.Application:
    state = {"version": 1, "cache": {}}

    async def feed(request: web.Request) -> web.StreamResponse:
        i, version = int(request.match_info["i"]), state["version"]
        etag = f'"v{version}-{i}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        body = state["cache"].get((i, version))
        if body is None:
            body = state["cache"][(i, version)] = feed_body(i, version, entries)
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"})

    async def bump(request: web.Request) -> web.Response:
        state["version"] = int(request.match_info["v"])
        state["cache"].clear()
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/feed/{i}", feed), web.post("/version/{v}", bump)])
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--entries", type=int, default=20)
    args = parser.parse_args()
    web.run_app(make_app(args.entries), host="127.0.0.1", port=args.port, print=lambda *_: print("ready", flush=True),
                access_log=None)


if __name__ == "__main__":
    main()
