"""A real HTTP server on 127.0.0.1 for api_call tests: records requests, answers by scripted routes."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Route:
    status: int = 200
    body: Any = None
    delay_seconds: float = 0.0
    delay_times: int | None = None  # only this many requests wait delay_seconds (None: every one)
    fail_times: int = 0  # answer 503 this many times before the scripted answer
    headers: dict[str, str] = field(default_factory=dict)  # more headers of the answer (Location)


@dataclass
class LocalHttpServer:
    server: ThreadingHTTPServer
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    in_flight: int = 0  # requests received and not answered yet
    peak_in_flight: int = 0  # the most requests in flight at once since the server started
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, **kwargs: Any) -> None:
        self.routes[(method, path)] = Route(**kwargs)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # connections waiting to be accepted: a batch opens dozens at once


def start_http_server() -> LocalHttpServer:
    state: dict[str, LocalHttpServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            srv = state["srv"]
            with srv.lock:
                srv.in_flight += 1
                srv.peak_in_flight = max(srv.peak_in_flight, srv.in_flight)
            try:
                self._answer(srv)
            finally:
                with srv.lock:
                    srv.in_flight -= 1

        def _answer(self, srv: LocalHttpServer) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            srv.requests.append(
                RecordedRequest(self.command, self.path, dict(self.headers.items()), body, time.time())
            )
            route = srv.routes.get((self.command, self.path.split("?")[0]))
            if route is None:
                self._reply(404, {"error": "no route"})
                return
            if route.delay_seconds and route.delay_times != 0:
                if route.delay_times is not None:
                    route.delay_times -= 1
                time.sleep(route.delay_seconds)
            if route.fail_times > 0:
                route.fail_times -= 1
                self._reply(503, {"error": "try again"})
                return
            answer = route.body if route.body is not None else {"echo": body, "path": self.path}
            self._reply(route.status, answer, route.headers)

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = _Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    local = LocalHttpServer(server)
    state["srv"] = local
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return local
