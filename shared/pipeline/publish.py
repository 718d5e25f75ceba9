"""A kafka-python producer whose sends are confirmed before the caller moves past them.

kafka-python's flush() returns once every request has completed, failed ones included, so a
caller that commits after a bare flush() can commit past a message the broker never took.
`confirm()` flushes and then raises DeliveryFailed if any send since the last confirm failed.
"""
from __future__ import annotations

import asyncio

from kafka import KafkaProducer
from kafka.errors import KafkaError


class DeliveryFailed(RuntimeError):
    """The broker did not take a message: nothing after it may be committed."""


class CheckedPublisher:
    def __init__(self, producer: KafkaProducer, confirm_timeout_s: float = 60.0):
        self.producer = producer
        self.confirm_timeout_s = confirm_timeout_s
        self.pending: list = []

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        try:
            self.pending.append((topic, self.producer.send(topic, key=key, value=value)))
        except KafkaError as exc:  # refused before it was queued (too large, no metadata in time)
            raise DeliveryFailed(f"{topic}: {exc}") from exc

    def confirm(self) -> int:
        """Wait until the broker took every send since the last confirm; how many there were."""
        pending, self.pending = self.pending, []
        if not pending:
            return 0
        try:
            self.producer.flush(timeout=self.confirm_timeout_s)
        except KafkaError as exc:  # KafkaTimeoutError: not all sent within the timeout
            raise DeliveryFailed(f"not acknowledged within {self.confirm_timeout_s:.0f} s: {exc}") from exc
        for topic, future in pending:
            if not future.is_done:
                raise DeliveryFailed(f"{topic}: not acknowledged within {self.confirm_timeout_s:.0f} s")
            if future.failed():
                raise DeliveryFailed(f"{topic}: the broker refused a message: {future.exception}")
        return len(pending)

    async def confirmed(self) -> int:
        """As confirm(), without blocking an asyncio loop: the producer's I/O thread resolves
        one asyncio future per send through its callbacks (no thread per waiter)."""
        pending, self.pending = self.pending, []
        loop = asyncio.get_running_loop()
        waiters = []
        for topic, future in pending:
            done = loop.create_future()
            future.add_callback(_resolve, loop, done, None)
            future.add_errback(lambda exc, d=done, t=topic: _resolve(
                loop, d, DeliveryFailed(f"{t}: the broker refused a message: {exc}"), None))
            waiters.append(done)
        try:
            # the producer gives up after its delivery timeout; this guards against a lost callback
            await asyncio.wait_for(asyncio.gather(*waiters), self.confirm_timeout_s + 5)
        except asyncio.TimeoutError:
            raise DeliveryFailed(f"not acknowledged within {self.confirm_timeout_s:.0f} s") from None
        return len(pending)

    def close(self, timeout_s: float = 10.0) -> None:
        self.producer.close(timeout=timeout_s)


def _resolve(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future, failure, _metadata) -> None:
    """From the producer's thread: settle `waiter` on its loop (with `failure` raised, if any)."""
    def settle() -> None:
        if waiter.done():
            return
        if isinstance(failure, BaseException):
            waiter.set_exception(failure)
        else:
            waiter.set_result(None)

    loop.call_soon_threadsafe(settle)
