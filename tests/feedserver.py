"""A real HTTP server on 127.0.0.1 for feed tests: routes are functions, requests are recorded."""
from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before the status line: a slow server
    gzip: bool = False
    endless: bool = False  # a body that never ends (until the client hangs up)
    # A body streamed as these chunks, chunk_delay_s apart, until they end or the client hangs up;
    # with `length`, the Content-Length declared for it (true or not), else none (Connection: close).
    chunks: Callable[[], Iterable[bytes]] | None = None
    chunk_delay_s: float = 0.0
    length: int | None = None


Route = Callable[[dict[str, str]], Reply]


class FeedServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent: dict[str, int] = {}  # bytes written of each streamed (chunks) body
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers))
                route = server.routes.get(self.path)
                reply = route(headers) if route else Reply(404, b"not found")
                time.sleep(reply.delay_s)
                body = gzip.compress(reply.body) if reply.gzip else reply.body
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.gzip:
                        self.send_header("Content-Encoding", "gzip")
                    if reply.chunks is not None:
                        if reply.length is not None:
                            self.send_header("Content-Length", str(reply.length))
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for chunk in reply.chunks():
                            self.wfile.write(chunk)
                            server.sent[self.path] = server.sent.get(self.path, 0) + len(chunk)
                            time.sleep(reply.chunk_delay_s)
                        return
                    if reply.endless:
                        self.send_header("Connection", "close")
                        self.end_headers()
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline:
                            self.wfile.write(b"<item>" + b"x" * 4096 + b"</item>")
                        return
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # BrokenPipe, ConnectionReset
                    pass  # the client gave up, as a capped or timed-out client should

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
