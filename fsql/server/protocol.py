"""Feast's feature-server protocol as JSON: requests read, responses written.

Feast clients (its Python SDK's `remote` online store, curl scripts written for
`feast serve`) send the bodies read here and parse the ones written here, so the
shapes follow Feast's server: entities and pushed rows as columns
(`{"user_id": [1, 2]}`), a response with one result per column (join keys first, each
echoed), values as JSON of their own type (a float64 is always written with a decimal
point, since the client types values by their JSON type), a status per value and RFC
3339 event times ending in `Z`. Where Feast answers 500 (an unknown feature, a key of the
wrong type) or silently truncates a value, fsql answers 4xx naming the problem: every
check here raises `BadRequest`, and a `ProjectError` from the store is a 4xx as well.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from fsql.errors import ProjectError
from fsql.online.serving import OnlineResponse

_NAIVE_EPOCH = datetime(1970, 1, 1)  # UTC: times are formatted, never compared
# Feast's `to` values for a push; fsql logs every pushed row offline before it is served
# (a served value must be reproducible in training), so "online" writes the log too.
PUSH_TARGETS = ("online", "online_and_offline")


class BadRequest(ProjectError):
    """A request the server cannot answer as asked: a 4xx with the reason."""

    def __init__(self, message: str, status: int = 400, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass(frozen=True)
class OnlineRequest:
    """A `/get-online-features` body: feature refs or a service, and entity rows."""

    features: list[str] | None
    feature_service: str | None
    entity_rows: list[dict[str, Any]]
    full_feature_names: bool


@dataclass(frozen=True)
class PushRequest:
    view: str
    columns: dict[str, list[Any]]
    to: str


@dataclass(frozen=True)
class MaterializeRequest:
    start: str | None
    end: str
    views: list[str] | None


def _body(raw: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"the body is not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    return doc


def _strings(doc: Mapping[str, Any], field: str) -> list[str] | None:
    value = doc.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{field}' must be a list of strings")
    return value


def _flag(doc: Mapping[str, Any], field: str) -> bool:
    value = doc.get(field, False)
    if not isinstance(value, bool):
        raise BadRequest(f"'{field}' must be true or false")
    return value


def _columns(value: Any, field: str) -> dict[str, list[Any]]:
    """`{column: [values]}` with every column as long as the first."""
    if not isinstance(value, dict) or not value:
        raise BadRequest(f"'{field}' must be an object of columns, e.g. {{\"user_id\": [1, 2]}}")
    lengths = set()
    for name, values in value.items():
        if not isinstance(values, list):
            raise BadRequest(f"'{field}.{name}' must be a list of values")
        lengths.add(len(values))
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}: {len(values)}" for name, values in value.items())
        raise BadRequest(f"the columns of '{field}' differ in length ({sizes})")
    return value


def online_request(raw: bytes) -> OnlineRequest:
    """Read a `/get-online-features` body (Feast's field names)."""
    doc = _body(raw)
    service = doc.get("feature_service")
    if service is not None and not isinstance(service, str):
        raise BadRequest("'feature_service' must be a string")
    features = _strings(doc, "features")
    if not service and not features:
        raise BadRequest("give 'features' (view:feature refs) or 'feature_service'")
    columns = _columns(doc.get("entities"), "entities")
    names = list(columns)
    rows = [dict(zip(names, vals, strict=True)) for vals in zip(*columns.values(), strict=True)]
    if not rows:
        raise BadRequest("'entities' has no rows")
    # Like Feast, a service wins over a feature list when both are given.
    return OnlineRequest(
        None if service else features, service or None, rows, _flag(doc, "full_feature_names")
    )


def push_request(raw: bytes) -> PushRequest:
    doc = _body(raw)
    view = doc.get("push_source_name")
    if not isinstance(view, str) or not view:
        raise BadRequest("'push_source_name' must name the view to push to")
    to = doc.get("to", "online")
    if to == "offline":
        raise BadRequest(
            "push to='offline' is not supported: fsql logs every pushed row offline and serves it",
            hint="use to='online' or 'online_and_offline' (both write the log and the store)",
        )
    if to not in PUSH_TARGETS:
        raise BadRequest(f"'to' must be one of online, online_and_offline, not {to!r}")
    return PushRequest(view, _columns(doc.get("df"), "df"), to)


def materialize_request(raw: bytes, incremental: bool) -> MaterializeRequest:
    doc = _body(raw)
    end = doc.get("end_ts")
    start = doc.get("start_ts")
    if not isinstance(end, str):
        raise BadRequest("'end_ts' must be a timestamp string (ISO-8601; UTC when no offset)")
    if not incremental and not isinstance(start, str):
        raise BadRequest("'start_ts' must be a timestamp string (ISO-8601; UTC when no offset)")
    return MaterializeRequest(
        None if incremental else start, end, _strings(doc, "feature_views") or None
    )


def rfc3339(micros: int) -> str:
    """`1970-01-01T00:00:00Z`, with `.mmm` or `.uuuuuu` only when the time needs them.
    (isoformat, not strftime: this runs for every value of every response.)"""
    moment = _NAIVE_EPOCH + timedelta(microseconds=micros)
    frac = moment.microsecond
    if frac and frac % 1000 == 0:
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.isoformat() + "Z"  # no fraction when there is none


def _json_value(value: Any) -> Any:
    """orjson's fallback for values it does not write itself."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _plain(values: list[Any]) -> list[Any]:
    """NaN and infinities have no JSON form: they are written as null."""
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in values]


def online_response(response: OnlineResponse, json_columns: Set[str] = frozenset()) -> bytes:
    """Feast's response body: `metadata.feature_names` (join keys and request columns
    first, as the entity rows name them, then the features) and one result per name.
    Features of type json (held as JSON text) in `json_columns` are nested as values."""
    columns = response.to_dict()
    for name in json_columns & columns.keys():
        columns[name] = [None if v is None else orjson.Fragment(v) for v in columns[name]]
    statuses = response.statuses
    if statuses is None:
        raise ValueError("the response of a timed read is needed")
    # A row's features share its event time and keys share the epoch: format each once.
    stamps: dict[int, str] = {}

    def stamp(us: int) -> str:
        text = stamps.get(us)
        if text is None:
            text = stamps[us] = rfc3339(us)
        return text

    results = [
        {
            "values": _plain(values),
            "statuses": statuses.status[name],
            "event_timestamps": [stamp(us) for us in statuses.event_us[name]],
        }
        for name, values in columns.items()
    ]
    body = {"metadata": {"feature_names": list(columns)}, "results": results}
    return orjson.dumps(body, default=_json_value)


def error_body(message: str) -> bytes:
    """`{"detail": ...}`, as FastAPI (and so `feast serve`) words an HTTP error: one line
    naming the problem and what to do."""
    return orjson.dumps({"detail": message})
