"""The supervisor's control channel: a small HTTP endpoint on 127.0.0.1 for replay and retag.

`newsflow run` writes the endpoint's address, its pid and a random token to
`<data dir>/supervisor.json` (mode 0600, removed when it stops); a command started with the
same data dir finds it there. Requests carry the token in a header, so only someone who can
read that file can pause a stage. JSON in, JSON out:

    GET  /status                          the settings the services run with, each service's state
    POST /pause?service=NAME&lease=SECS   stop that service's process; not restarted until resumed
                                          (or until the lease runs out, so a crashed caller
                                          cannot leave a stage stopped for good)
    POST /resume?service=NAME             start it again
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import orjson

log = logging.getLogger("newsflow.supervisor")

CONTROL_FILE = "supervisor.json"
TOKEN_HEADER = "X-Newsflow-Token"
DEFAULT_LEASE_S = 120.0


class ControlError(RuntimeError):
    """The supervisor refused a request (unknown service, nothing to resume...)."""


class ControlServer:
    """Serves `supervisor` (anything with control_status(), pause(name, lease_s), resume(name))."""

    def __init__(self, supervisor, data_dir: Path):
        self.supervisor = supervisor
        self.path = Path(data_dir) / CONTROL_FILE
        self.token = secrets.token_hex(16)
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.supervisor, self.token))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="control", daemon=True).start()
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps({"url": self.url, "pid": os.getpid(), "token": self.token}))
        os.replace(tmp, self.path)
        log.info("control endpoint %s (address in %s)", self.url, self.path)

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        try:
            if orjson.loads(self.path.read_bytes()).get("token") == self.token:
                self.path.unlink()
        except (OSError, ValueError):
            pass


def _handler(supervisor, token: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the supervisor logs what it does itself
            pass

        def _reply(self, code: int, body: dict) -> None:
            data = orjson.dumps(body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            if not secrets.compare_digest(self.headers.get(TOKEN_HEADER, ""), token):
                return self._reply(403, {"error": "bad or missing token"})
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if method == "GET" and url.path == "/status":
                    return self._reply(200, supervisor.control_status())
                if method == "POST" and url.path == "/pause":
                    lease = float(query.get("lease", DEFAULT_LEASE_S))
                    return self._reply(200, supervisor.pause(query.get("service", ""), lease))
                if method == "POST" and url.path == "/resume":
                    return self._reply(200, supervisor.resume(query.get("service", "")))
            except (ControlError, ValueError) as exc:
                return self._reply(409, {"error": str(exc)})
            return self._reply(404, {"error": f"no such endpoint: {method} {url.path}"})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

    return Handler


class SupervisorClient:
    def __init__(self, url: str, token: str, pid: int):
        self.url, self.token, self.pid = url, token, pid

    def _call(self, method: str, path: str, timeout_s: float = 30.0) -> dict:
        request = urllib.request.Request(self.url + path, method=method, headers={TOKEN_HEADER: self.token})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as resp:
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                reason = orjson.loads(exc.read()).get("error")
            except ValueError:
                reason = str(exc)
            raise ControlError(f"newsflow run (pid {self.pid}) refused {method} {path}: {reason}") from None

    def status(self) -> dict:
        return self._call("GET", "/status", timeout_s=5.0)

    def pause(self, service: str, lease_s: float = DEFAULT_LEASE_S) -> dict:
        return self._call("POST", f"/pause?service={service}&lease={lease_s:g}")

    def resume(self, service: str) -> dict:
        return self._call("POST", f"/resume?service={service}")


def find_supervisor(data_dir: Path) -> SupervisorClient | None:
    """The `newsflow run` working in `data_dir`, if one is running and answers."""
    try:
        info = orjson.loads((Path(data_dir) / CONTROL_FILE).read_bytes())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no file, unreadable, or a stale one left by a supervisor killed with -9
    client = SupervisorClient(info["url"], info["token"], int(info["pid"]))
    try:
        client.status()
    except (OSError, ControlError):
        return None
    return client
