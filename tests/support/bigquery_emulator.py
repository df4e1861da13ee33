"""crucible-emulator (`crucible serve --dialect bigquery`) started from its own venv, for tests.

crucible pins duckdb 1.5.6, which cannot share fsql's venv (duckdb 2.0), so it lives in
`.venvs/crucible` (made by scripts/emulators.sh) or wherever $FSQL_CRUCIBLE names its
executable. One server per test session, on a free loopback port, stopped afterwards; each
test works in a dataset of its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROJECT = "fsql-test"
START_SECONDS = 30
ARGS = ("serve", "--dialect", "bigquery", "--host", "127.0.0.1", "--port")


def executable() -> Path | None:
    """The crucible executable to run, or None when it is not installed."""
    named = os.environ.get("FSQL_CRUCIBLE")
    path = Path(named) if named else REPO / ".venvs" / "crucible" / "bin" / "crucible"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(endpoint: str) -> bool:
    url = f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve(program: Path) -> Iterator[dict[str, Any]]:
    """Run crucible on a free port until the block ends; yield its endpoint."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [str(program), *ARGS, str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(endpoint):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"crucible did not start on {endpoint}:\n{tail}")
                time.sleep(0.1)
            yield {"endpoint": endpoint, "project": PROJECT}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def profile_block(server: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An `offline:` profile block for the emulator, with a dataset name of its own."""
    return {
        "type": "bigquery",
        "project": server["project"],
        "dataset": f"d_{uuid.uuid4().hex[:12]}",
        "method": "anonymous",
        "api_endpoint": server["endpoint"],
        "upload_format": "csv",  # crucible loads CSV only
        **extra,
    }


def client(server: dict[str, Any]) -> Any:
    """A plain google-cloud-bigquery client for the emulator (to make datasets in tests)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=server["project"],
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=server["endpoint"]),
    )


class Datasets:
    """Datasets of a test's own on the emulator (fsql never makes one: the profile's
    dataset must exist), each made with its profile block and all deleted at `close`."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.server = server
        self._client: Any = None
        self.made: list[str] = []

    def block(self, **extra: Any) -> dict[str, Any]:
        """A profile block (see `profile_block`) whose dataset now exists."""
        if self._client is None:
            self._client = client(self.server)
        made = profile_block(self.server, **extra)
        self._client.create_dataset(made["dataset"])
        self.made.append(made["dataset"])
        return made

    def close(self) -> None:
        if self._client is None:
            return
        try:
            for dataset in self.made:
                self._client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
        finally:
            self._client.close()
            self._client = None
            self.made.clear()
