"""Bytes of the Redis online store: entity keys, values, index entries, meta and state records.

Kept apart from `fsql.online.redis_store` so the layout (documented in `KEY_LAYOUT`)
lives in one place another language can be checked against. Everything here is pure
(no connections): conversions, the per-view `Plan`, the chunked encoding of upserts. The
records of the control plane are read and written in `fsql.online.redis_control`, the Lua
scripts are in `fsql.online.redis_scripts`.

Why these choices (measured on Redis 7.0, 1M keys, see bench/redis_online.py):

- one msgpack array per entity per view in a plain string key: half the memory of a
  hash field per feature and 5-10x faster to write (ENGINE_NOTES "Online stores");
- a fixed 24-byte big-endian `(event_ts, created_ts, version)` prefix, each offset by
  2^63, so greatest-version-wins compares fixed-width unsigned integers without decoding
  the msgpack.

Size: every byte layout of the Redis store (KEY_LAYOUT) and its encoders and decoders,
kept together so the documented layout and the code that writes it cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fsql.arrow_buffers import int64_scalar, int64_values
from fsql.definitions.types import FeatureType
from fsql.errors import RunError
from fsql.online.base import CREATED_TS, EVENT_TS, VERSION, OnlineTable
from fsql.online.times import (
    EPOCH_ORDINAL,
    datetime_to_us,
    days_to_date,
    plain,
    to_micros,
    us_to_datetime,
)

KEY_LAYOUT = """\
Redis online store layout (fsql), P = key_prefix, J = project name, all integers big-endian:

  P fsql:J:meta          hash   field view -> "<layout>:<tag>:<view_hash>:<generation>", the
                                 view's live namespace (layout: 12 hex chars of
                                 OnlineTable.layout; tag: 8 chars [A-Za-z0-9_-], random, never
                                 reused; view_hash: the definition's content hash, empty when
                                 made without a fence (a fence adopts it); generation: decimal
                                 start time in us of the run whose rebuild swapped it in, 0 when
                                 prepare() made it)
  P fsql:J:pending       hash   field tag -> msgpack [view, layout, view_hash, generation,
                                 created_ms]: a rebuild being filled (created_ms: Redis TIME).
                                 Pending tags older than a day are queued in gc by the next
                                 prepare or begin_rebuild.
  P fsql:J:state         hash   field view -> msgpack [watermark_us|nil, materialized_at_us|nil,
                                 view_hash, newest_event_us|nil, base_version|nil] (older fsql
                                 wrote 3 or 4 items: the missing ones read as nil)
  P fsql:J:keys          hash   field view -> the type family of each join key as last written
                                 (fsql.definitions.types.type_family), comma-separated
  P <tag> ":" K          string one per entity and namespace. K = msgpack of each join-key
                                 value, concatenated in join-key order (int 1 -> 01, str "1" ->
                                 a1 31; timestamps as int microseconds UTC, dates as int days),
                                 at most 32,767 bytes (a row with a longer K is not stored).
                                 Value = 24 bytes + msgpack array of the features in view order:
                                 u64 event_ts_us + 2^63, u64 created_ts_us + 2^63 (null -> 0),
                                 u64 version + 2^63 (no __version or null -> 0), then values:
                                 int, float (NaN kept), bool, str, bin (bytes), nil, arrays
                                 and maps as msgpack arrays and maps, with
                                 timestamps as int microseconds UTC and dates as int days.
                                 A write replaces a value only when its first 24 bytes are
                                 strictly greater (unsigned). With `expire`, PEXPIREAT =
                                 (event_ts_us + ttl_us) // 1000 + 1.
  P fsql:J:idx:<tag>     set    index lists of the tag: "p" (keys without expiry) or a bucket
                                 b = event_ts_us // (1000 W), W = max(ttl, 1 h) in ms (decimal)
  P fsql:J:idx:<tag>:<m> list   each element: the keys written under <tag>, each as its length
                                 (1 byte n < 128, or 2 bytes 0x8000 | n) then K; bucket lists
                                 expire at (b + 2) * W + ttl_ms + 1 ms
  P fsql:J:gc            list   "<tag>:<retired_ms>": tags whose keys are being deleted. 0 =
                                 at once (teardown, abort, layout change); a rebuild's old live
                                 tag carries its retirement time (Redis TIME) and is kept 10 s,
                                 as readers may use a meta value up to 1 s old.
"""

OFFSET = 1 << 63
PREFIX_BYTES = 24
# The longest K: index entries give its length in 15 bits (KEY_LAYOUT). A row with a longer
# key can never be stored: writes skip it (`Rejected`), pushes refuse it, reads get None.
MAX_KEY_BYTES = 0x7FFF
KEY_LIMIT = "join keys in Redis are limited to 32 KiB (32,767 bytes) once encoded"
SHOW_CHARS = 40
_OFFSET_U64 = np.uint64(OFFSET)
_MS = int64_scalar(1000)
_ONE = int64_scalar(1)
_ZERO = int64_scalar(0)


# --- scalar conversions -------------------------------------------------------------------


DECODERS: dict[FeatureType, Callable[[Any], Any]] = {
    FeatureType.TIMESTAMP: us_to_datetime,
    FeatureType.DATE: days_to_date,
}


def _key_default(value: Any) -> Any:
    """msgpack fallback for key values: the same integers the write path stores."""
    if isinstance(value, datetime):
        return datetime_to_us(value)
    if isinstance(value, date):
        return value.toordinal() - EPOCH_ORDINAL
    if hasattr(value, "__index__"):  # numpy and other integer types
        return int(value)
    if hasattr(value, "__float__"):
        return float(value)
    raise TypeError(f"cannot use {type(value).__name__} as an online key value")


def key_packer() -> msgpack.Packer:
    return msgpack.Packer(default=_key_default, use_bin_type=True)


def encode_key(pack: Callable[[Any], bytes], key: Sequence[Any]) -> bytes | None:
    """K of one entity key, or None when a component is null (such keys are never stored)."""
    if len(key) == 1:
        value = key[0]
        return None if value is None else pack(value)
    if any(v is None for v in key):
        return None
    return b"".join(map(pack, key))


def key_suffixes(pack: Callable[[Any], bytes], columns: Sequence[pa.ChunkedArray]) -> list[bytes]:
    """K of every row (the data key after `P <tag>:`); rows with null keys were dropped.
    A K may be longer than MAX_KEY_BYTES: `too_long` finds the rows that cannot be stored."""
    cols = [column_values(c) for c in columns]
    if len(cols) == 1:
        return list(map(pack, cols[0]))
    return [b"".join(map(pack, key)) for key in zip(*cols, strict=True)]


def too_long(suffixes: Sequence[bytes]) -> list[int]:
    """Positions of the keys over MAX_KEY_BYTES; one pass over the lengths when none is."""
    if not suffixes or max(map(len, suffixes)) <= MAX_KEY_BYTES:
        return []
    return [i for i, k in enumerate(suffixes) if len(k) > MAX_KEY_BYTES]


def show_key(names: Sequence[str], values: Sequence[Any], size: int) -> str:
    """A key for messages: each value cut to its first SHOW_CHARS characters, then the
    key's encoded size (the log line of a 40,000-character key stays short)."""
    parts = []
    for name, value in zip(names, values, strict=True):
        text = repr(value)
        if len(text) > SHOW_CHARS + 1:  # + 1: the opening quote of a str or bytes repr
            text = text[: SHOW_CHARS + 1] + "\u2026"
        parts.append(f"{name}={text}")
    return f"{', '.join(parts)} ({size:,} bytes)"


def key_advice(join_keys: Sequence[str]) -> str:
    """What to do about a key that is too long, for messages."""
    example = join_keys[0] if len(join_keys) == 1 else "key"
    return f"{KEY_LIMIT}: shorten the key, or hash it in the model (e.g. md5({example}))"


@dataclass
class Rejected:
    """Rows of one view whose key is over MAX_KEY_BYTES once encoded, refused by a write:
    such a key can never be stored, so its row is skipped and every other row written.
    `first` shows the first one (`show_key`), for the line that reports them."""

    view: str
    join_keys: tuple[str, ...]
    count: int = 0
    first: str = ""

    def note(self, part: pa.Table, rows: Sequence[int], suffixes: Sequence[bytes]) -> None:
        """Count `rows` of `part` (positions of `too_long`), remembering the first one."""
        if rows and not self.count:
            at = rows[0]
            values = [part.column(k)[at].as_py() for k in self.join_keys]
            self.first = show_key(self.join_keys, values, len(suffixes[at]))
        self.count += len(rows)

    def add(self, other: Rejected) -> None:
        """Count the rows of another write of the same run."""
        if other.count and not self.count:
            self.first = other.first
        self.count += other.count

    def message(self) -> str:
        """One line naming the view, how many keys, the first one, and what to do."""
        if self.count == 1:
            many = "key not stored, its join key is"
        else:
            many = "keys not stored, their join keys are"
        return (
            f"online view '{self.view}': {self.count:,} {many} too long "
            f"(first: {self.first}); {key_advice(self.join_keys)}"
        )


def row_decoder(
    decoders: Sequence[tuple[int, Callable[[Any], Any]]],
) -> Callable[[bytes], tuple[Any, ...]]:
    """Stored value -> feature tuple; `decoders` turn ints back into datetimes and dates."""
    unpackb = msgpack.unpackb
    if not decoders:
        return lambda value: unpackb(memoryview(value)[PREFIX_BYTES:], use_list=False)

    def decode(value: bytes) -> tuple[Any, ...]:
        row = unpackb(memoryview(value)[PREFIX_BYTES:])
        for i, fn in decoders:
            if row[i] is not None:
                row[i] = fn(row[i])
        return tuple(row)

    return decode


def u64(value: int) -> bytes:
    """8 big-endian bytes of `value` clamped to [0, 2^64 - 1] (for prefix comparisons)."""
    return min(max(value, 0), (1 << 64) - 1).to_bytes(8, "big")


def where(url: str) -> str:
    """host:port/db of a Redis URL, without user or password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return parts.path or "(unix socket)"
        db = parts.path if parts.path not in ("", "/") else ""
        return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{db}"
    except ValueError:
        return "(invalid url)"


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --- Arrow columns -> Python lists ----------------------------------------------------------


def column_values(col: pa.ChunkedArray) -> list[Any]:
    """A key or feature column as msgpack-ready values (timestamps as us, dates as days)."""
    col = plain(col)
    if pa.types.is_timestamp(col.type):
        return to_micros(col).to_pylist()
    if pa.types.is_date(col.type):
        return col.cast(pa.date32()).cast(pa.int32()).to_pylist()
    if pa.types.is_map(col.type):  # a msgpack map (Arrow gives key/value pairs)
        return [None if v is None else dict(v) for v in col.to_pylist()]
    return col.to_pylist()


@dataclass(frozen=True)
class Plan:
    """What reads and writes derive from an OnlineTable, computed once per table."""

    table: OnlineTable
    layout: str  # OnlineTable.layout hashes JSON on every access: ~40 us
    decode: Callable[[bytes], tuple[Any, ...]]  # stored value -> feature values
    single_float: bool  # float32-only views pack floats in 5 bytes, not 9 (lossless)

    @classmethod
    def build(cls, table: OnlineTable) -> Plan:
        types = [t for _, t in table.features]
        floats = set(types) & {FeatureType.FLOAT32, FeatureType.FLOAT64}
        # msgpack arrays come back as tuples (the fast path reads rows as tuples): an
        # array feature is turned back into a list; maps come back as dicts.
        decoders = [
            (i, list if t.kind == "array" else DECODERS[t])
            for i, t in enumerate(types)
            if t in DECODERS or t.kind == "array"
        ]
        single = floats == {FeatureType.FLOAT32}
        return cls(table, table.layout, row_decoder(decoders), single)


def normalized(table: OnlineTable, data: pa.Table) -> pa.Table:
    """Upsert rows checked, null keys dropped, created and version columns present."""
    names = set(data.column_names)
    missing = [c for c in (*table.join_keys, EVENT_TS, *table.feature_names) if c not in names]
    if missing:
        raise RunError(f"rows for online view {table.view!r} lack columns {', '.join(missing)}")
    for k in table.join_keys:  # a null key can never be read: drop such rows
        if data.column(k).null_count:
            data = data.filter(pc.is_valid(data.column(k)))
    if data.num_rows and data.column(EVENT_TS).null_count:
        raise RunError(f"rows for online view {table.view!r} have a null {EVENT_TS}")
    if CREATED_TS not in names:
        data = data.append_column(CREATED_TS, pa.nulls(data.num_rows, pa.int64()))
    if VERSION not in names:  # no version: 0 (null versions are 0 too)
        data = data.append_column(VERSION, pa.nulls(data.num_rows, pa.int64()))
    elif data.schema.field(VERSION).type != pa.int64():
        index = data.schema.get_field_index(VERSION)
        data = data.set_column(index, VERSION, pc.cast(data.column(VERSION), pa.int64()))
    return data


def encode_chunks(
    plan: Plan,
    data: pa.Table,
    key_pack: Callable[[Any], bytes],
    ttl_us: int | None,
    chunk: int,
    slice_rows: int,
    rejected: Rejected,
) -> Iterator[list[Any]]:
    """The upsert script's row arguments (K, value, and PXAT in ms when the keys expire)
    per `chunk` rows, encoded `slice_rows` at a time and lazily, so that Redis runs the
    script on one chunk while Python encodes the next. Rows whose key is too long to
    store are left out and counted in `rejected`.

    `data` has no null key and no null event time, and has the created and version columns.
    """
    table = plan.table
    value_pack = msgpack.Packer(use_bin_type=True, use_single_float=plan.single_float).pack
    per_row = 2 if ttl_us is None else 3
    for start in range(0, data.num_rows, slice_rows):
        part = data.slice(start, slice_rows)
        try:
            suffixes = key_suffixes(key_pack, [part.column(k) for k in table.join_keys])
        except (ValueError, TypeError) as err:
            raise RunError(f"online view {table.view!r}: bad join key: {err}") from None
        skip = too_long(suffixes)
        if skip:
            rejected.note(part, skip, suffixes)
            dropped = set(skip)
            keep = [i for i in range(len(suffixes)) if i not in dropped]
            part = part.take(pa.array(keep, pa.int64()))
            suffixes = [suffixes[i] for i in keep]
            if not keep:
                continue
        event = to_micros(part.column(EVENT_TS))
        heads = prefixes(event, to_micros(part.column(CREATED_TS)), part.column(VERSION))
        features = [column_values(part.column(f)) for f in table.feature_names]
        values = list(map(bytes.__add__, heads, map(value_pack, zip(*features, strict=True))))
        args: list[Any] = [None] * (len(values) * per_row)
        args[0::per_row] = suffixes
        args[1::per_row] = values
        if ttl_us is not None:
            args[2::per_row] = expiry_ms(event, ttl_us)
        for lo in range(0, len(values), chunk):
            yield args[lo * per_row : (lo + chunk) * per_row]


def expiry_ms(event: pa.ChunkedArray, ttl_us: int) -> list[int]:
    """PXAT of each row: (event + ttl) // 1000 + 1 ms. Rows expired before 1970 get 1
    (gone at once): Redis rejects PXAT <= 0."""
    at = pc.add(pc.divide(pc.add(event, int64_scalar(ttl_us)), _MS), _ONE)
    return pc.max_element_wise(at, _ONE).to_pylist()


def prefixes(
    event: pa.ChunkedArray, created: pa.ChunkedArray, version: pa.ChunkedArray
) -> list[bytes]:
    """The 24-byte ordering prefix of every row, built vectorized (no per-row struct.pack).

    A null created_ts becomes int64 min, i.e. 0 once offset: below every real value. A
    null version counts as 0, as a missing version column does."""
    rec = np.empty(len(event), dtype=[("e", ">u8"), ("c", ">u8"), ("v", ">u8")])
    rec["e"] = int64_values(event).view(np.uint64) ^ _OFFSET_U64
    filled = pc.fill_null(created, int64_scalar(-OFFSET))
    rec["c"] = int64_values(filled).view(np.uint64) ^ _OFFSET_U64
    rec["v"] = int64_values(pc.fill_null(version, _ZERO)).view(np.uint64) ^ _OFFSET_U64
    return rec.view("V24").tolist()
