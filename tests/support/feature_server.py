"""`fsql serve` as a real process for the tests: started on a free port over a project,
spoken to over raw HTTP, stopped by SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.redis_servers import free_port

START_SECONDS = 30


class Server:
    """A running `fsql serve` and the project it serves."""

    def __init__(self, project: Path, port: int, process: subprocess.Popen[bytes]) -> None:
        self.project = project
        self.port = port
        self.process = process

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        """(status, parsed JSON or text, content type)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            kind = response.getheader("content-type") or ""
        finally:
            conn.close()
        return response.status, json.loads(raw) if "json" in kind else raw.decode(), kind

    def read(self, body: dict[str, Any]) -> dict[str, Any]:
        status, doc, _ = self.call("POST", "/get-online-features", body)
        assert status == 200, doc
        return dict(doc)


def serve_command(project: Path, port: int, *extra: str) -> list[str]:
    """`fsql serve` over `project` on `port`, as a subprocess runs it."""
    return [
        sys.executable,
        "-m",
        "fsql.cli.main",
        "serve",
        "--project-dir",
        str(project),
        "--port",
        str(port),
        *extra,
    ]


def start(project: Path, *extra: str) -> Server:
    port = free_port()
    process = subprocess.Popen(
        serve_command(project, port, "--log-level", "warning", *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = Server(project, port, process)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode() if process.stdout else "")
        try:
            if server.call("GET", "/health")[0] == 200:
                return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("fsql serve did not answer /health")


def stop(server: Server) -> int:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=30)


def run_project(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fsql.cli.main", "run", "--project-dir", str(project)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
