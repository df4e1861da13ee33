"""profiles.yml: where it is found, which target is used, and env_var() in its values.

Every value env_var() reads from the environment for a profile is registered as a secret, so a
password can be used to connect but never printed, logged or written to target/.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsql import plugins
from fsql.config.secrets import register_secret
from fsql.config.yaml_lines import line_of, load_yaml_file
from fsql.errors import ProjectError

# Jinja is imported when a value holds a template: most local profiles hold none, and a
# short-lived process (`fsql get-online`) should not pay for it.
if TYPE_CHECKING:
    import jinja2

PROFILES_FILE = "profiles.yml"


@dataclass(frozen=True)
class Target:
    """One resolved output of a profile: the offline engine and the online store."""

    profile: str
    name: str
    offline: dict[str, Any] = field(default_factory=dict)
    online: dict[str, Any] = field(default_factory=dict)
    file: str = ""

    @property
    def offline_type(self) -> str:
        return str(self.offline.get("type", "duckdb"))

    @property
    def online_type(self) -> str:
        return str(self.online.get("type", "sqlite"))


def find_profiles(project_dir: Path, profiles_dir: str | Path | None) -> Path:
    """Search order: --profiles-dir, $FSQL_PROFILES_DIR, the project dir, ~/.fsql/."""
    candidates: list[Path] = []
    if profiles_dir:
        candidates.append(Path(profiles_dir))
    elif os.environ.get("FSQL_PROFILES_DIR"):
        candidates.append(Path(os.environ["FSQL_PROFILES_DIR"]))
    else:
        candidates += [project_dir, Path.home() / ".fsql"]
    for folder in candidates:
        path = folder.expanduser() / PROFILES_FILE
        if path.is_file():
            return path
    searched = ", ".join(str(c) for c in candidates)
    raise ProjectError(
        f"no {PROFILES_FILE} found (searched {searched})",
        hint="copy profiles.example.yml to profiles.yml or pass --profiles-dir",
    )


def _env_var(name: str, default: Any = None) -> str:
    if name in os.environ:
        value = os.environ[name]
        register_secret(value)  # from the environment: treated as a secret everywhere
        return value
    if default is not None:
        return str(default)  # written in profiles.yml in plain text: not a secret
    raise ProjectError(
        f"env_var('{name}') is not set and has no default",
        hint=f"export {name}=... or give a default: env_var('{name}', 'value')",
    )


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.globals["env_var"] = _env_var
    return env


def _render(value: Any, file: str, line: int | None) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        import jinja2

        try:
            return _environment().from_string(value).render()
        except ProjectError as err:
            raise ProjectError(err.message, file=file, line=line, hint=err.hint) from None
        except jinja2.TemplateError as err:
            raise ProjectError(f"bad template in value: {err}", file=file, line=line) from None
        except Exception as err:  # a template computing something impossible (1/0, ...)
            raise ProjectError(
                f"bad template in value: {type(err).__name__}", file=file, line=line
            ) from None
    if isinstance(value, dict):
        return {k: _render(v, file, line_of(value) or line) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, file, line) for v in value]
    return value


def load_target(
    project_dir: Path, profile: str, target: str | None, profiles_dir: str | Path | None = None
) -> Target:
    """Resolve `profile` and `target` (None: the profile's default) into a Target."""
    path = find_profiles(project_dir, profiles_dir)
    display = str(path)
    data = load_yaml_file(path, display)
    if not isinstance(data, dict) or profile not in data:
        known = ", ".join(sorted(map(str, data))) if isinstance(data, dict) else "none"
        raise ProjectError(
            f"profile '{profile}' not found",
            file=display,
            hint=f"profiles here: {known}; set 'profile' in fsql_project.yml",
        )
    prof = data[profile]
    outputs = prof.get("outputs") if isinstance(prof, dict) else None
    if not isinstance(outputs, dict) or not outputs:
        raise ProjectError(
            f"profile '{profile}' has no outputs",
            file=display,
            line=line_of(prof),
            hint="add outputs: {dev: {offline: ..., online: ...}}",
        )
    name = target or prof.get("target") or next(iter(outputs))
    if not isinstance(name, str) or name not in outputs:
        raise ProjectError(
            f"target {name!r} not found in profile '{profile}'",
            file=display,
            line=line_of(outputs),
            hint="targets here: " + ", ".join(sorted(map(str, outputs))),
        )
    out = outputs[name]
    if not isinstance(out, dict):
        raise ProjectError(
            f"target '{name}' must be a mapping", file=display, line=line_of(outputs)
        )
    rendered = _render(out, display, line_of(out))
    offline = rendered.get("offline") or {"type": "duckdb"}
    online = rendered.get("online") or {"type": "sqlite", "path": "target/online.db"}
    for kind, conf, group, default in (
        ("offline", offline, plugins.ADAPTERS, "duckdb"),
        ("online", online, plugins.ONLINE_STORES, "sqlite"),
    ):
        chosen = conf.get("type", default) if isinstance(conf, dict) else None
        if not isinstance(chosen, str) or not plugins.known(group, chosen):
            raise ProjectError(
                f"target '{name}': {kind} type must be one of {', '.join(plugins.names(group))}",
                file=display,
                line=line_of(out),
            )
    return Target(profile=profile, name=name, offline=offline, online=online, file=display)
