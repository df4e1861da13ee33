"""Start the feature server on uvicorn: one process, or `workers` processes that each
open their own FeatureStore from the same settings (passed in the environment, since
uvicorn starts workers by importing a factory)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette

from fsql.server.app import create_app
from fsql.store import FeatureStore

SETTINGS_ENV = "FSQL_SERVE_SETTINGS"
# In-flight requests get this long to finish after SIGTERM or Ctrl-C.
GRACEFUL_SECONDS = 30


@dataclass(frozen=True)
class Settings:
    project_dir: str
    target: str | None
    profiles_dir: str | None
    vars: dict[str, Any]

    def open(self) -> FeatureStore:
        return FeatureStore(
            self.project_dir,
            target=self.target,
            profiles_dir=self.profiles_dir,
            vars=self.vars,
            hold_offline=False,
        )


def app_from_env() -> Starlette:
    """The app of one worker process (uvicorn's factory)."""
    settings = Settings(**json.loads(os.environ[SETTINGS_ENV]))
    return create_app(settings.open())


def serve(settings: Settings, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve until stopped. The project is loaded here first, so that a broken project
    fails before the port is bound, with its one-line error."""
    import uvicorn

    store = settings.open()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }
    if workers == 1:
        uvicorn.run(create_app(store), **options)
        return
    store.close()
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    uvicorn.run("fsql.server.run:app_from_env", factory=True, workers=workers, **options)
