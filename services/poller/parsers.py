"""The feed parser processes: feedparser is pure Python and the poller's main CPU cost, so
worker processes give it the other cores; each parse has a time limit, and a stuck or dead
parser process is replaced without stopping the poller."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from services.poller.feeds import Feed
from services.poller.fetch import Fetched
from services.poller.parse import FeedParseError, ParsedFeed, parse_feed, parse_within, parser_process
from shared.config import Settings

log = logging.getLogger(__name__)


class Parsers:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.pool = self._new_pool()
        # As many parses under way as there are processes, so a parse's time limit runs from its start.
        self.slots = asyncio.Semaphore(max(1, settings.parse_workers))

    def _new_pool(self) -> ProcessPoolExecutor | None:
        # Spawned, not forked: the parent has the producer's thread running. parser_process: a
        # poller killed with -9 must not leave its parsers behind, and a parser process has a
        # memory cap (NEWSFLOW_PARSE_MEMORY_MB).
        workers = self.settings.parse_workers
        if not workers:
            return None
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=parser_process, initargs=(self.settings.parse_memory_mb,))

    async def parse(self, feed: Feed, fetched: Fetched) -> ParsedFeed:
        args = (feed, fetched.body, time.time(), fetched.headers, fetched.url)
        loop = asyncio.get_running_loop()
        if self.pool is None:  # in a thread: nothing can stop it, so no time limit
            return await loop.run_in_executor(None, parse_feed, *args)
        limit = self.settings.parse_timeout_s
        async with self.slots:
            pool = self.pool
            try:
                # The parser process stops the parse itself after `limit` (parse_within). This is
                # the backstop for a parse stuck where no signal gets through, and it also counts
                # the start of a new parser process, hence the margin.
                return await asyncio.wait_for(loop.run_in_executor(pool, parse_within, limit, *args), 2 * limit + 30)
            except asyncio.TimeoutError:
                self._replace(pool, f"parsing {feed.name} did not stop after {limit:g} s")
                raise FeedParseError(f"parsing did not stop after {limit:g} s (NEWSFLOW_PARSE_TIMEOUT_S); "
                                     "its process was replaced") from None
            except BrokenProcessPool:  # a worker died (out of memory on some body?): a new pool, this feed fails
                self._replace(pool, f"a feed parser process died (on {feed.name} or a feed parsed beside it)")
                raise FeedParseError("the parser process died while parsing this body") from None

    def _replace(self, pool: ProcessPoolExecutor, why: str) -> None:
        """Stop `pool`'s processes, whatever they are doing, and start new ones; the feeds parsed
        beside the one at fault fail this once (BrokenProcessPool)."""
        if self.pool is not pool:  # replaced already, by the first of the feeds that were on it
            return
        log.error("%s; starting new parser processes", why)
        for process in list((pool._processes or {}).values()):  # no public way to stop a running task
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown(cancel_futures=True)
