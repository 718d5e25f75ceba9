"""The whole pipeline against the broker's own limit, on Apache Kafka and on Tansu in one run
(BENCH_BROKERS=kafka,tansu, the default; each broker started for its own measures):

1. pass-through: a consumer -> producer loop with no work, with kafka-python and with aiokafka
   (Faust's client): the most our clients get out of this broker on this machine;
2. the four-stage topology with no-op stages (bench/_noop.py: our Faust apps and sink consumer,
   forwarding bytes) from a filled raw topic to the last commit;
3. the real pipeline (`newsflow cleaner`, `tagger`, `sink` processes on SQLite) from the filled
   raw topic to the last article stored; then each stage alone on its filled input topic;
4. end-to-end latency (publish -> stored) under a steady 100 articles/s;
5. peak RSS (VmHWM) and CPU seconds of every process, the poller's from polling 200 feeds.

    make bench BENCH_ONLY=pipeline           # N=50,000 articles of ~4 KB
    BENCH_ARTICLES=5000 make bench BENCH_ONLY=pipeline
    BENCH_PROFILE=1 make bench BENCH_ONLY=pipeline   # + bench/profile-<stage>.txt (pyinstrument)

Rates are measured from the first message a stage took (its metrics, read every 0.1 s) to the
last one out, so process starts are not counted; stages start last one first, so each is
ready before its input flows. CPU is counted from a process's metrics answering (its imports
not counted, its group join counted). Latency is stored_at - fetched_at of each article
(stored_at is taken when the sink's transaction starts).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench._articles import encoded, generate
from bench._html_mix import html_mix
from bench._passthrough import passthrough_aiokafka, passthrough_kafka_python
from bench._pipeline_report import LATENCY_RATE, STAGES, current_rss_mb, peak_rss_mb, side_by_side, summarise
from services.broker.main import LocalBroker, start_broker
from services.status.main import fetch
from services.status.report import total
from services.tagger.taxonomy import load_taxonomy
from shared.config import Settings
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.pipeline.topology import pipeline_topics
from shared.procs import free_port, wait_for_port
from shared.schema import encode
from shared import metric_names as names

HERE = Path(__file__).resolve().parent
# Copied to the top level of bench/results.json by the harness.
TOP_LEVEL = ("pipeline_articles_per_s", "noop_pipeline_articles_per_s", "raw_passthrough_msgs_per_s",
             "latency_p50_s", "latency_p99_s", "rss_mb")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    """A stage process and its /metrics."""

    name: str
    process: subprocess.Popen
    port: int
    cpu_at_start: float = 0.0  # CPU seconds once its metrics answered (imports before; its group join after)
    cpu_used: float = 0.0  # from cpu_at_start to the last message of its stage

    def counts(self) -> tuple[float, float]:
        """(messages in, messages out) so far; (0, 0) until the endpoint answers."""
        samples, _ = fetch(f"http://127.0.0.1:{self.port}/metrics")
        if samples is None:
            return 0.0, 0.0
        return (total(samples, names.MESSAGES_IN) or 0.0, total(samples, names.MESSAGES_OUT) or 0.0)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode} (see its log in the work folder)")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class PipelineBench:
    def __init__(self, broker: LocalBroker, work: Path, n: int, profile: bool):
        self.broker, self.work, self.n, self.profile = broker, work, n, profile
        self.tags = [t.name for t in load_taxonomy(Settings().taxonomy_file).topics]

    def settings(self, prefix: str, group: str | None = None) -> Settings:
        group = group or prefix
        return Settings(kafka_bootstrap=self.broker.bootstrap, topic_prefix=prefix, group_prefix=group,
                        data_dir=self.work / group, db_url=f"sqlite:///{self.work / group}.db")

    def fresh(self, name: str) -> Settings:
        settings = self.settings(f"{name}-{uuid.uuid4().hex[:6]}")
        ensure_topics(settings, pipeline_topics(settings, self.tags))
        return settings

    def fill(self, settings: Settings, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
        producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
        started = time.perf_counter()
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush()
        seconds = time.perf_counter() - started
        producer.close()
        return len(messages) / seconds

    def start(self, stage: str, settings: Settings, noop: bool = False, **env: str) -> Service:
        """A service process on `settings`, NEWSFLOW_* variables in `env` on top."""
        port = free_port()
        env = dict(os.environ, NEWSFLOW_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
                   NEWSFLOW_TOPIC_PREFIX=settings.topic_prefix, NEWSFLOW_GROUP_PREFIX=settings.group_prefix,
                   NEWSFLOW_DATA_DIR=str(settings.data_dir), NEWSFLOW_DB_URL=settings.database_url,
                   NEWSFLOW_METRICS_PORT=str(port), NEWSFLOW_LOG_LEVEL="WARNING", NEWSFLOW_TAXONOMY_RELOAD_S="0", **env)
        if noop:
            command = [sys.executable, "-m", "bench._noop", stage]
        elif self.profile:
            out = HERE / f"profile-{stage}.txt"
            command = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), "-m", "services.cli", stage]
        else:
            command = [sys.executable, "-m", "services.cli", stage]
        log = open(self.work / f"{settings.topic_prefix}-{stage}.log", "ab")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port("127.0.0.1", port, timeout_s=60)
        return Service(stage, process, port, cpu_at_start=cpu_seconds(process.pid))

    def watch(self, services: list[Service], until: float, last: str, timeout_s: float) -> dict[str, tuple]:
        """Read every service's counters every 0.1 s until the `last` stage (all its workers) has
        put out `until` messages; {stage: (time of its first message in, time its output reached
        `until`)}. Each service's CPU is counted from its start to its stage's end."""
        stages: dict[str, list[Service]] = {}
        for service in services:
            stages.setdefault(service.name, []).append(service)
        first_in: dict[str, float] = {}
        done: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.perf_counter()
            for stage, workers in stages.items():
                for w in workers:
                    w.check_alive()
                counts = [w.counts() for w in workers]
                took, put = sum(c[0] for c in counts), sum(c[1] for c in counts)
                if took and stage not in first_in:
                    first_in[stage] = now
                if put >= until and stage not in done:
                    done[stage] = now
                    for w in workers:
                        w.cpu_used = cpu_seconds(w.process.pid) - w.cpu_at_start
            if last in done:
                return {stage: (first_in.get(stage, now), done.get(stage, now)) for stage in stages}
            if time.monotonic() > deadline:
                counts = {s.name: s.counts() for s in services}
                raise TimeoutError(f"after {timeout_s:.0f} s, (in, out) per stage: {counts}; wanted {until}")
            time.sleep(0.1)

    def topology(self, label: str, raw: list[tuple[bytes, bytes]], noop: bool, workers: int = 1) -> dict:
        """The four stages from a filled raw topic to the last article stored, `workers`
        processes of each stage sharing its group."""
        settings = self.fresh(label)
        fill_rate = self.fill(settings, settings.raw_topic, raw)
        broker_cpu = cpu_seconds(self.broker.process.pid)
        # Last stage first: each stage is up before its input flows, the first stage's work is all seen.
        services = [self.start(stage, settings, noop) for stage in reversed(STAGES) for _ in range(workers)]
        try:
            times = self.watch(services, len(raw), "sink", timeout_s=max(180.0, len(raw) / 50))
            figures = self._figures(services, times, len(raw))
            figures["broker_cpu_ms_per_article"] = round(
                (cpu_seconds(self.broker.process.pid) - broker_cpu) * 1000 / len(raw), 3)
            figures["fill_msgs_per_s"] = round(fill_rate)
        finally:
            for service in services:
                service.stop()
        figures["settings"] = settings
        return figures

    def _figures(self, services: list[Service], times: dict[str, tuple], n: int,
                 first: str = "cleaner", last: str = "sink") -> dict:
        start, end = times[first][0], times[last][1]
        stages = {}
        for stage, (began, ended) in times.items():
            workers = [s for s in services if s.name == stage]
            stages[stage] = {
                "articles_per_s_within": round(n / max(ended - began, 1e-3)),
                "cpu_ms_per_article": round(sum(w.cpu_used for w in workers) * 1000 / n, 3),
                "rss_mb": round(max(peak_rss_mb(w.process.pid) for w in workers), 1),
            }
            if len(workers) > 1:
                stages[stage]["workers"] = len(workers)
        return {"articles_per_s": round(n / (end - start)), "seconds": round(end - start, 2), "stages": stages}

    def alone(self, settings: Settings, stage: str) -> dict:
        """One stage on its input topic, filled by the real run, under a group of its own."""
        own = self.settings(settings.topic_prefix, group=f"{settings.group_prefix}-alone-{stage}")
        service = self.start(stage, own)
        try:
            times = self.watch([service], self.n, stage, timeout_s=max(180.0, self.n / 50))
            return self._figures([service], times, self.n, first=stage, last=stage)
        finally:
            service.stop()

    def latency(self, seconds: float) -> dict:
        settings = self.fresh("latency")
        services = [self.start(stage, settings) for stage in STAGES]
        producer = make_producer(settings)
        try:
            warm = generate(20, prefix="warm", seed=11)
            for article in warm:
                producer.send(settings.raw_topic, key=article.key, value=encode(article))
            producer.flush()
            self.watch(services, len(warm), "sink", timeout_s=120)
            articles = generate(int(seconds * LATENCY_RATE), prefix="lat", seed=13)
            started = time.perf_counter()
            for i, article in enumerate(articles):
                delay = started + i / LATENCY_RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                stamped = dataclasses.replace(article, fetched_at=time.time())
                producer.send(settings.raw_topic, key=stamped.key, value=encode(stamped))
            producer.flush()
            self.watch(services, len(warm) + len(articles), "sink", timeout_s=120)
            rss = {s.name: round(peak_rss_mb(s.process.pid), 1) for s in services}
        finally:
            producer.close()
            for service in services:
                service.stop()
        db = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        delays = sorted(row[0] for row in db.execute(
            "SELECT stored_at - fetched_at FROM articles WHERE id LIKE 'lat-%'"))
        db.close()
        if len(delays) != len(articles):
            raise RuntimeError(f"latency run: {len(delays)} of {len(articles)} articles stored")
        quantiles = statistics.quantiles(delays, n=100, method="inclusive")
        return {"rate_per_s": LATENCY_RATE, "articles": len(delays), "p50_s": round(quantiles[49], 3),
                "p99_s": round(quantiles[98], 3), "max_s": round(delays[-1], 3), "rss_mb": rss}

    def poller_rss(self, feeds: int = 200, entries: int = 20) -> dict:
        """The poller polling `feeds` local feeds once: its peak RSS and its parser processes'."""
        settings = self.fresh("poller")
        port = free_port()
        host = subprocess.Popen([sys.executable, "-m", "bench._feedhost", "--port", str(port), "--entries", str(entries)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        feeds_file = self.work / "feeds.yaml"
        feeds_file.write_text("".join(f"- url: http://127.0.0.1:{port}/feed/{i}\n  name: desk-{i}\n  fulltext: false\n"
                                      for i in range(feeds)))
        try:
            wait_for_port("127.0.0.1", port, timeout_s=20)
            poller = self.start("poller", settings, NEWSFLOW_FEEDS_FILE=str(feeds_file),
                                NEWSFLOW_ALLOW_PRIVATE_HOSTS="127.0.0.1", NEWSFLOW_HOST_MIN_GAP_S="0")
            try:
                consumer = make_consumer(settings, None, settings.raw_topic)
                seen, deadline = 0, time.monotonic() + 180
                while seen < feeds * entries:
                    poller.check_alive()
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the poller published {seen} of {feeds * entries} entries")
                    seen += sum(len(r) for r in consumer.poll(timeout_ms=500).values())
                consumer.close()
                parsers = [peak_rss_mb(pid) for pid in children(poller.process.pid)]
                return {"feeds": feeds, "entries": seen, "rss_mb": round(peak_rss_mb(poller.process.pid), 1),
                        "parser_process_rss_mb": round(max(parsers), 1) if parsers else None}
            finally:
                poller.stop()
        finally:
            host.terminate()
            host.wait(10)


def passthrough(bench: PipelineBench, raw: list[tuple[bytes, bytes]]) -> dict:
    settings = bench.fresh("passthrough")
    source = settings.raw_topic
    ensure_topics(settings, [settings.topic("pt.kafka-python"), settings.topic("pt.aiokafka")])
    bench.fill(settings, source, raw)
    n = len(raw)
    return {
        "kafka_python_msgs_per_s": round(passthrough_kafka_python(settings, source, settings.topic("pt.kafka-python"), n)),
        "aiokafka_msgs_per_s": round(asyncio.run(passthrough_aiokafka(settings, source, settings.topic("pt.aiokafka"), n))),
    }


def brokers_to_measure() -> list[str]:
    """BENCH_BROKERS (default kafka,tansu): Kafka is measured only where it can run."""
    wanted = [b.strip() for b in os.environ.get("BENCH_BROKERS", "kafka,tansu").split(",") if b.strip()]
    unknown = set(wanted) - {"kafka", "tansu"}
    if unknown:
        raise ValueError(f"BENCH_BROKERS: {sorted(unknown)} (kafka, tansu)")
    return wanted


def run(args) -> dict:
    n = int(os.environ.get("BENCH_ARTICLES") or (3000 if args.quick else 50000))
    per_broker = {kind: measure(kind, n, args) for kind in brokers_to_measure()}
    first = next(iter(per_broker.values()))
    # The top-level keys are the first broker's (Kafka's unless BENCH_BROKERS says otherwise).
    figures = {key: first[key] for key in TOP_LEVEL}
    figures.update(broker=first["broker"], brokers=per_broker, articles=n)
    if len(per_broker) > 1:
        print(side_by_side(per_broker), flush=True)
    return figures


def measure(kind: str, n: int, args) -> dict:
    latency_s = 10.0 if args.quick else 30.0
    work = Path(tempfile.mkdtemp(prefix=f"bench-pipeline-{kind}-"))
    broker = start_broker(Settings(broker=kind), work / "broker", kind=kind)
    bench = PipelineBench(broker, work, n, args.profile)
    broker_rss: dict[str, float] = {"started": current_rss_mb(broker.process.pid)}
    try:
        print(f"== {kind} {broker.version}: generating {n} articles", flush=True)
        raw = encoded(generate(n))
        figures: dict = {"broker": kind, "broker_version": broker.version, "articles": n,
                         "message_bytes_mean": round(statistics.fmean(len(v) for _, v in raw))}
        print(" 1. pass-through", flush=True)
        figures["passthrough"] = passthrough(bench, raw)
        broker_rss["after pass-through"] = current_rss_mb(broker.process.pid)
        print(f"    {figures['passthrough']}\n 2. no-op topology", flush=True)
        noop = bench.topology("noop", raw, noop=True)
        noop.pop("settings")
        figures["noop"] = noop
        broker_rss["after no-op"] = current_rss_mb(broker.process.pid)
        print(f"    {noop['articles_per_s']} articles/s\n 3. real pipeline", flush=True)
        real = bench.topology("real", raw, noop=False)
        settings = real.pop("settings")
        figures["pipeline"] = real
        broker_rss["after the pipeline"] = current_rss_mb(broker.process.pid)
        print(f"    {real['articles_per_s']} articles/s; each stage alone", flush=True)
        # The sink first: each stage alone appends its output to the next one's input topic.
        figures["alone"] = {stage: bench.alone(settings, stage) for stage in ("sink", "tagger", "cleaner")}
        print(" 3b. two workers per stage", flush=True)
        two = bench.topology("two", raw, noop=False, workers=2)
        two.pop("settings")
        figures["two_workers"] = two
        print(f"    {two['articles_per_s']} articles/s\n 3c. the cleaner on whole HTML pages", flush=True)
        figures["html_mix"] = html_mix(bench, min(n, 2000))
        print(f" 4. latency at {LATENCY_RATE} articles/s", flush=True)
        figures["latency"] = bench.latency(latency_s)
        print(" 5. poller", flush=True)
        figures["poller"] = bench.poller_rss()
        broker_rss["at the end"] = current_rss_mb(broker.process.pid)
        figures["broker_rss_mb"] = round(peak_rss_mb(broker.process.pid), 1)
        figures["broker_rss_mb_along_the_run"] = broker_rss
        # blocks, not sizes: Kafka's index files are sparse, 10 MB each on paper
        figures["broker_disk_mb"] = round(sum(f.stat().st_blocks * 512 for f in (work / "broker").rglob("*")
                                              if f.is_file()) / 2**20, 1)
    finally:
        broker.stop()
    return summarise(figures)


if __name__ == "__main__":
    import argparse

    import orjson

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    print(orjson.dumps(run(parser.parse_args()), option=orjson.OPT_INDENT_2).decode())
