"""`newsflow run`: the embedded default.

Starts a local broker when none is configured, creates the topics, runs every service as
its own process, restarts a service that dies (with backoff) and gives up, saying why,
when one keeps dying. With --once it waits until every stage has processed everything
the poller published, prints a summary and stops.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from kafka.errors import KafkaError

from services.broker.main import LocalBroker, start_broker
from services.sink.store import open_store
from services.supervisor.children import Child, state_of, worker_names
from services.supervisor.control import ControlError, ControlServer
from services.tagger.taxonomy import load_taxonomy
from shared.brokerwatch import reachable
from shared.config import Settings
from shared.kafka import backlog, ensure_topics, high_watermarks
from shared.exits import EX_DATAERR
from shared.pipeline.topology import PRODUCER, drain_checks, pipeline_topics
from shared.procs import free_port, port_open

log = logging.getLogger("newsflow.supervisor")

MAX_BACKOFF_S = 30.0
# A service that dies while its broker is down, or within this long after the broker was last
# seen down, died of the outage: restarted (after OUTAGE_RESTART_S) but not counted against it.
BROKER_GRACE_S = 30.0
OUTAGE_RESTART_S = 1.0
BROKER_RESTART_LIMIT = 5  # deaths of the local broker within restart_window_s before giving up
STALL_TIMEOUT_S = 300.0
ENDPOINTS_FILE = "endpoints.json"  # in the data dir: where `newsflow status` finds each /metrics


class GaveUp(RuntimeError):
    """A service kept dying, or the pipeline stopped making progress."""


class Supervisor:
    def __init__(
        self, settings: Settings, *, once: bool = False, ingest: Sequence[str] = (), poll_feeds: bool = True
    ):
        self.settings = settings
        self.once = once
        self.poll_feeds = poll_feeds
        self.ingest = [str(Path(p).resolve()) for p in ingest]
        self.broker: LocalBroker | None = None
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.lock = threading.RLock()  # the control channel's threads and the watch loop share children
        self.control: ControlServer | None = None
        self.endpoints_file: Path | None = None
        self.broker_down_at: float | None = None  # when the broker was last seen unreachable
        self.broker_deaths: deque = deque()
        self.topics: list[str] = []

    # -- start and stop ------------------------------------------------------------------

    def start(self) -> None:
        data_dir = self.settings.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        if not self.settings.kafka_bootstrap:
            try:
                self.broker = start_broker(self.settings, data_dir, self.settings.broker_port)
            except RuntimeError as exc:
                raise GaveUp(str(exc)) from None
            # the kind it is, not "auto": the stages tune their producers to it (shared/stream.py)
            self.settings = self.settings.model_copy(update={"kafka_bootstrap": self.broker.bootstrap,
                                                             "broker": self.broker.kind})
        else:
            log.info("using the configured broker %s", self.settings.kafka_bootstrap)
        tags = [t.name for t in load_taxonomy(self.settings.taxonomy_file).topics]
        self.topics = pipeline_topics(self.settings, tags)
        ensure_topics(self.settings, self.topics)
        self.dlq_start = sum(high_watermarks(self.settings, self.settings.dlq_topic).values())
        for i, name in enumerate(worker_names(self.settings), start=1):
            self.children.append(self._child(name, i, data_dir))
        for child in self.children:
            child.start()
        self.control = ControlServer(self, data_dir)
        self.control.start()
        self._write_endpoints(data_dir / ENDPOINTS_FILE)

    def _write_endpoints(self, path: Path) -> None:
        """Tell `newsflow status` (and tests) where this run's broker and /metrics are."""
        host = self.settings.metrics_host
        host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        doc = {
            "pid": os.getpid(),
            "kafka_bootstrap": self.settings.kafka_bootstrap,
            "metrics": {c.name: f"http://{host}:{c.metrics_port}/metrics" for c in self.children},
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)
        self.endpoints_file = path

    def _child(self, name: str, index: int, data_dir: Path) -> Child:
        base = self.settings.metrics_base_port
        port = base + index if base else free_port()
        if port_open("127.0.0.1", port):
            port = free_port()
        env = dict(os.environ)
        env.update(
            NEWSFLOW_KAFKA_BOOTSTRAP=self.settings.kafka_bootstrap,
            NEWSFLOW_BROKER=self.settings.broker,
            NEWSFLOW_DB_URL=self.settings.database_url,
            NEWSFLOW_DATA_DIR=str(data_dir),
            NEWSFLOW_FEEDS_FILE=str(Path(self.settings.feeds_file).resolve()),
            NEWSFLOW_TAXONOMY_FILE=str(Path(self.settings.taxonomy_file).resolve()),
            NEWSFLOW_METRICS_PORT=str(port),
        )
        command = [sys.executable, "-m", "services.cli", name.split("-", 1)[0]]
        if name == PRODUCER:
            command += ["--once"] if self.once else []
            command += [] if self.poll_feeds else ["--no-feeds"]
            for path in self.ingest:
                command += ["--ingest", path]
        return Child(name, command, env, port)

    def stop(self) -> None:
        if self.control:
            self.control.stop()
        if self.endpoints_file:
            self.endpoints_file.unlink(missing_ok=True)
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            child.process.terminate()
        deadline = time.monotonic() + 15
        for child in running:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within 15 s; killing it", child.name)
                child.process.kill()
                child.process.wait()
        if self.broker:  # last: the services flushed and committed to it on their way out
            self.broker.stop()
            log.info("local broker stopped")

    # -- watching ------------------------------------------------------------------------

    def check_children(self) -> None:
        """Restart dead services with backoff; raise GaveUp when one keeps dying."""
        with self.lock:
            self._check_children()

    def _check_children(self) -> None:
        now = time.monotonic()
        self._check_broker(now)
        outage = self._broker_outage(now)
        for child in self.children:
            if child.finished or child.process is None:
                continue
            if child.paused_until is not None:
                if now >= child.paused_until:
                    log.warning("%s was paused longer than its lease; resuming it", child.name)
                    child.paused_until = None
                    child.start()
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                continue
            code = child.process.poll()
            if code is None:
                continue
            if code == 0 and child.name == PRODUCER and self.once:
                child.finished = True
                log.info("poller finished publishing")
                continue
            if code == EX_DATAERR:
                raise GaveUp(f"{child.name} stopped at its dead-letter limit (the reason is in its log above); "
                             "not restarted, since its input would fail again: see `newsflow dlq list`")
            if outage:
                # The broker's fault, not the service's: it waits for the broker once restarted.
                log.warning("%s exited with code %s in or just after an outage of the broker; restarting in "
                            "%.1f s (not counted against it)", child.name, code, OUTAGE_RESTART_S)
                child.restart_at = now + OUTAGE_RESTART_S
                continue
            child.deaths.append(now)
            while child.deaths and now - child.deaths[0] > self.settings.restart_window_s:
                child.deaths.popleft()
            if len(child.deaths) >= self.settings.restart_limit:
                raise GaveUp(
                    f"{child.name} died {len(child.deaths)} times within "
                    f"{self.settings.restart_window_s:.0f} s (last exit code {code}); giving up"
                )
            delay = min(MAX_BACKOFF_S, 0.5 * 2 ** (len(child.deaths) - 1))
            log.warning("%s exited with code %s; restarting in %.1f s", child.name, code, delay)
            child.restart_at = now + delay

    def _broker_outage(self, now: float) -> bool:
        """True while the broker is unreachable, and for BROKER_GRACE_S after it was last seen so."""
        if not reachable(self.settings, timeout_s=0.5):
            self.broker_down_at = now
        return self.broker_down_at is not None and now - self.broker_down_at <= BROKER_GRACE_S

    def _check_broker(self, now: float) -> None:
        """In the embedded mode, start the local broker again if it died, on the same port.
        Kafka comes back with its log: the services' clients reconnect and go on from their
        committed offsets. Tansu comes back empty: the topics are made again here, and each
        service, finding its topics gone, restarts with new clients (shared/brokerwatch.py)."""
        if self.broker is None or self.broker.process.poll() is None:
            return
        code = self.broker.process.returncode
        self.broker_down_at = now
        self.broker_deaths.append(now)
        while self.broker_deaths and now - self.broker_deaths[0] > self.settings.restart_window_s:
            self.broker_deaths.popleft()
        if len(self.broker_deaths) >= BROKER_RESTART_LIMIT:
            raise GaveUp(f"the local broker died {len(self.broker_deaths)} times within "
                         f"{self.settings.restart_window_s:.0f} s (last exit code {code}); giving up "
                         f"(log: {self.broker.log_file})")
        how = ("with its log" if self.broker.durable else
               "(memory-only: it starts empty, so what the stages had not yet consumed is lost)")
        log.error("the local broker exited with code %s; starting it again on port %d %s", code, self.broker.port, how)
        try:
            self.broker = start_broker(self.settings, self.broker.data_dir, self.broker.port, self.broker.kind)
            ensure_topics(self.settings, self.topics)
        except (RuntimeError, KafkaError) as exc:
            raise GaveUp(f"cannot start the local broker again: {exc}") from None

    # -- the control channel (services/supervisor/control.py) -------------------------------

    def _find(self, name: str) -> list[Child]:
        """The service's workers: every worker of a stage, or one worker by its own name."""
        found = [c for c in self.children if name in (c.name, c.stage)]
        if not found:
            raise ControlError(f"no service {name!r}; services: {', '.join(c.name for c in self.children)}")
        return found

    def control_status(self) -> dict:
        s = self.settings
        with self.lock:
            services = {c.name: {"state": state_of(c), "pid": c.process.pid if c.process else None,
                                 "metrics_port": c.metrics_port} for c in self.children}
        return {
            "pid": os.getpid(),
            "settings": {
                "kafka_bootstrap": s.kafka_bootstrap, "topic_prefix": s.topic_prefix,
                "group_prefix": s.group_prefix, "partitions": s.partitions, "db_url": s.database_url,
                "taxonomy_file": str(Path(s.taxonomy_file).resolve()), "data_dir": str(s.data_dir.resolve()),
            },
            "services": services,
        }

    def pause(self, name: str, lease_s: float) -> dict:
        """Stop a service's processes (they commit and leave their group) and keep them stopped."""
        with self.lock:
            workers = self._find(name)
            if any(child.finished for child in workers):
                raise ControlError(f"{name} has finished; there is nothing to pause")
            renewal = all(child.paused_until is not None for child in workers)
            processes = []
            for child in workers:
                child.paused_until = time.monotonic() + max(1.0, lease_s)
                if not renewal:  # a renewal: the caller is still at work, a longer lease, nothing else
                    child.restart_at = None
                    processes.append(child.process)
            if renewal:
                return {"service": name, "state": "paused"}
        for process in processes:  # all asked at once: they leave the group together
            if process and process.poll() is None:
                process.terminate()
        for process in processes:
            if process is None:
                continue
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) did not stop within 15 s; killing it", name, process.pid)
                process.kill()
                process.wait()
        log.info("paused %s (for replay; resumed within %.0f s at most)", name, lease_s)
        return {"service": name, "state": "paused"}

    def resume(self, name: str) -> dict:
        """Start it again, from the watch loop's thread at its next turn (within 0.5 s): a child
        started from this request's thread would get SIGTERM when the thread ends, since the
        parent-death signal (shared/procs.py) follows the thread that forked it."""
        with self.lock:
            workers = self._find(name)
            if any(child.paused_until is None for child in workers):
                raise ControlError(f"{name} is not paused")
            for child in workers:
                child.paused_until = None
                child.restart_at = time.monotonic()
            log.info("resuming %s", name)
        return {"service": name, "state": "resuming"}

    def watch(self) -> None:
        while not self.stopping.wait(0.5):
            self.check_children()

    def wait_drained(self) -> None:
        """Block until every stage has committed everything published upstream of it."""
        poller = self.children[0]
        while not poller.finished:
            self.check_children()
            if self.stopping.wait(0.3):
                return
        stable, best, best_at = 0, None, time.monotonic()
        last_report = 0.0
        while stable < 2:
            self.check_children()
            try:
                behind = {
                    stage: backlog(self.settings, self.settings.group(stage), self.settings.topic(topic))
                    for stage, topic in drain_checks()
                }
            except (KafkaError, RuntimeError, TimeoutError) as exc:  # an outage of the broker: ask again
                log.warning("cannot measure the stages' backlog now (%s: %s)", type(exc).__name__, exc)
                stable = 0
                if self.stopping.wait(1.0):
                    return
                continue
            total = sum(behind.values())
            stable = stable + 1 if total == 0 else 0
            if best is None or total < best:
                best, best_at = total, time.monotonic()
            elif time.monotonic() - best_at > STALL_TIMEOUT_S:
                raise GaveUp(f"no progress for {STALL_TIMEOUT_S:.0f} s; still behind: {behind}")
            if total and time.monotonic() - last_report > 5:
                log.info("waiting for the stages: %s", ", ".join(f"{s} {n} behind" for s, n in behind.items()))
                last_report = time.monotonic()
            if self.stopping.wait(0.5):
                return

    def summary(self) -> str:
        store = open_store(self.settings.database_url)
        try:
            stored, per_tag = store.count(), store.tag_counts()
        finally:
            store.close()
        dead = sum(high_watermarks(self.settings, self.settings.dlq_topic).values()) - self.dlq_start
        tags = ", ".join(f"{t} {n}" for t, n in sorted(per_tag.items())) or "none"
        return f"articles stored: {stored}; per tag: {tags}; dead-lettered this run: {dead}"


def run(
    settings: Settings, *, once: bool = False, ingest: Sequence[str] = (), poll_feeds: bool = True
) -> int:
    supervisor = Supervisor(settings, once=once, ingest=ingest, poll_feeds=poll_feeds)

    def on_signal(signum, _frame):
        log.info("%s: stopping every process", signal.Signals(signum).name)
        supervisor.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        supervisor.start()
        if once:
            supervisor.wait_drained()
            if supervisor.stopping.is_set():
                return 130  # interrupted before everything was stored
            print(supervisor.summary(), flush=True)
        else:
            supervisor.watch()
        return 0
    except GaveUp as exc:
        log.error("%s", exc)
        return 1
    finally:
        supervisor.stop()
