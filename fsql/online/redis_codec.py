"""Bytes of the Redis online store: entity keys, values, index entries and the Lua scripts.

Kept apart from `fsql.online.redis_store` so the layout (documented in `KEY_LAYOUT`)
lives in one place another language can be checked against. Everything here is pure
(no connections): conversions, the per-view `Plan`, the chunked encoding of upserts.

Why these choices (measured on Redis 7.0, 1M keys, see bench/redis_online.py):

- one msgpack array per entity per view in a plain string key: half the memory of a
  hash field per feature and 5-10x faster to write (ENGINE_NOTES "Online stores");
- a fixed 16-byte big-endian `(event_ts, created_ts)` prefix, each offset by 2^63, so
  newest-wins compares fixed-width unsigned integers without decoding the msgpack;
- the scripts compare the prefix with `struct.unpack` (four unsigned 32-bit words),
  not Lua's `<` on strings: Redis calls `setlocale(LC_COLLATE, "")` and Lua 5.1
  compares strings with `strcoll`, so under a server's non-C locale the order of
  arbitrary bytes is not guaranteed to be bytewise.
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
from fsql.online.base import CREATED_TS, EVENT_TS, OnlineTable
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

  P fsql:J:meta          hash   field view -> "<layout>:<tag>" (layout: 12 hex chars of
                                 OnlineTable.layout; tag: 8 chars [A-Za-z0-9_-], new random
                                 value whenever the view is created, rebuilt or torn down)
  P fsql:J:state         hash   field view -> msgpack [watermark_us|nil, materialized_at_us|nil,
                                 view_hash, newest_event_us] (the last item is left out
                                 when unknown, as in state older fsql wrote: read as nil)
  P <tag> ":" K          string one per entity and view. K = msgpack of each join-key value,
                                 concatenated in join-key order (int 1 -> 01, str "1" -> a1 31;
                                 timestamps as int microseconds UTC, dates as int days).
                                 Value = 16 bytes + msgpack array of the features in view order:
                                 u64 event_ts_us + 2^63, u64 created_ts_us + 2^63 (null -> 0),
                                 then values: int, float, bool, str, bin (bytes), nil, with
                                 timestamps as int microseconds UTC and dates as int days.
                                 A write replaces a value only when its first 16 bytes are
                                 strictly greater (unsigned). With `expire`, PEXPIREAT =
                                 (event_ts_us + ttl_us) // 1000 + 1.
  P fsql:J:idx:<tag>     set    index lists of the tag: "p" (keys without expiry) or a bucket
                                 b = event_ts_us // (1000 W), W = max(ttl, 1 h) in ms (decimal)
  P fsql:J:idx:<tag>:<m> list   each element: the keys written under <tag>, each as its length
                                 (1 byte n < 128, or 2 bytes 0x8000 | n) then K; bucket lists
                                 expire at (b + 2) * W + ttl_ms + 1 ms
  P fsql:J:gc            list   tags whose keys are being deleted (teardown, layout change)
"""

OFFSET = 1 << 63
_OFFSET_U64 = np.uint64(OFFSET)
_MS = int64_scalar(1000)
_ONE = int64_scalar(1)


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
    """K of every row (the data key after `P <tag>:`); rows with null keys were dropped."""
    cols = [column_values(c) for c in columns]
    if len(cols) == 1:
        out = list(map(pack, cols[0]))
    else:
        out = [b"".join(map(pack, key)) for key in zip(*cols, strict=True)]
    if out and max(map(len, out)) >= 0x8000:
        raise ValueError("a join key is over 32 KiB once encoded")
    return out


def row_decoder(
    decoders: Sequence[tuple[int, Callable[[Any], Any]]],
) -> Callable[[bytes], tuple[Any, ...]]:
    """Stored value -> feature tuple; `decoders` turn ints back into datetimes and dates."""
    unpackb = msgpack.unpackb
    if not decoders:
        return lambda value: unpackb(memoryview(value)[16:], use_list=False)  # type: ignore[no-any-return]

    def decode(value: bytes) -> tuple[Any, ...]:
        row = unpackb(memoryview(value)[16:])
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
        decoders = [(i, DECODERS[t]) for i, t in enumerate(types) if t in DECODERS]
        single = floats == {FeatureType.FLOAT32}
        return cls(table, table.layout, row_decoder(decoders), single)


def encode_chunks(
    plan: Plan,
    data: pa.Table,
    key_pack: Callable[[Any], bytes],
    base: bytes,
    ttl_us: int | None,
    chunk: int,
    slice_rows: int,
) -> Iterator[tuple[list[bytes], list[Any]]]:
    """(data keys, upsert script arguments) per `chunk` rows, encoded `slice_rows` at a time
    and lazily, so that Redis runs the script on one chunk while Python encodes the next.

    `data` has no null key and no null event time; `base` is `P <tag>:`.
    """
    table = plan.table
    value_pack = msgpack.Packer(use_bin_type=True, use_single_float=plan.single_float).pack
    per_key = 1 if ttl_us is None else 2
    for start in range(0, data.num_rows, slice_rows):
        part = data.slice(start, slice_rows)
        try:
            suffixes = key_suffixes(key_pack, [part.column(k) for k in table.join_keys])
        except (ValueError, TypeError) as err:
            raise RunError(f"online view {table.view!r}: bad join key: {err}") from None
        columns = [part.column(f) for f in table.feature_names]
        args = encode_values(
            part.column(EVENT_TS), part.column(CREATED_TS), columns, value_pack, ttl_us
        )
        for lo in range(0, len(suffixes), chunk):
            keys = [base + s for s in suffixes[lo : lo + chunk]]
            yield keys, args[lo * per_key : (lo + len(keys)) * per_key]


def encode_values(
    event: pa.ChunkedArray,
    created: pa.ChunkedArray,
    features: Sequence[pa.ChunkedArray],
    pack: Callable[[Any], bytes],
    ttl_us: int | None,
) -> list[Any]:
    """The upsert script's arguments for some rows: each value, then its PXAT (ms) when
    the keys expire (`ttl_us` given)."""
    event = to_micros(event)
    rows = zip(*map(column_values, features), strict=True)
    values = list(map(bytes.__add__, prefixes(event, to_micros(created)), map(pack, rows)))
    if ttl_us is None:
        return values
    # Rows expired before 1970 get PXAT 1 (gone at once): Redis rejects PXAT <= 0.
    at = pc.max_element_wise(
        pc.add(pc.divide(pc.add(event, int64_scalar(ttl_us)), _MS), _ONE), _ONE
    ).to_pylist()
    return [x for pair in zip(values, at, strict=True) for x in pair]


def prefixes(event: pa.ChunkedArray, created: pa.ChunkedArray) -> list[bytes]:
    """The 16-byte ordering prefix of every row, built vectorized (no per-row struct.pack).

    A null created_ts becomes int64 min, i.e. 0 once offset: below every real value."""
    rec = np.empty(len(event), dtype=[("e", ">u8"), ("c", ">u8")])
    rec["e"] = int64_values(event).view(np.uint64) ^ _OFFSET_U64
    filled = pc.fill_null(created, int64_scalar(-OFFSET))
    rec["c"] = int64_values(filled).view(np.uint64) ^ _OFFSET_U64
    return rec.view("V16").tolist()  # type: ignore[no-any-return]


# --- Lua -------------------------------------------------------------------------------------

# KEYS: meta hash, index registry set, then the data keys.
# ARGV: view, expected meta value, len(P <tag> ":"), W in ms (0: no expiry), ttl in ms, then
#       per data key its value, followed by its PXAT in ms when W > 0.
# Returns the number of keys written, or the error "FSQL_STALE" when the view's tag moved on.
# One MGET and one MSET per call (without expiry): a redis.call costs about a microsecond,
# more than the comparison itself.
UPSERT_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('FSQL_STALE view was rebuilt or torn down')
end
local base = tonumber(ARGV[3]) + 1
local width = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local wus = width * 1000
local unpack4 = struct.unpack
local function newer(v, old)
  local a1, a2, a3, a4 = unpack4('>I4I4I4I4', v)
  local b1, b2, b3, b4 = unpack4('>I4I4I4I4', old)
  if a1 ~= b1 then return a1 > b1 end
  if a2 ~= b2 then return a2 > b2 end
  if a3 ~= b3 then return a3 > b3 end
  return a4 > b4
end
local function bucket(v)  -- event time (exact below 2^53 us) // W
  local a1, a2 = unpack4('>I4I4', v)
  return math.floor(((a1 - 2147483648) * 4294967296 + a2) / wus)
end
local lists = {}
local function index(m, k)
  local t = lists[m]
  if not t then t = {}; lists[m] = t end
  local s = string.sub(k, base)
  local n = #s
  if n < 128 then
    t[#t + 1] = string.char(n) .. s
  else
    t[#t + 1] = string.char(128 + math.floor(n / 256), n % 256) .. s
  end
end
local olds = redis.call('MGET', unpack(KEYS, 3))
local mixed = false  -- keys of this tag were written with expiry: they may sit in buckets only
if width == 0 then
  mixed = redis.call('SCARD', KEYS[2]) > redis.call('SISMEMBER', KEYS[2], 'p')
end
local latest = {}
local sets = {}
local written = 0
local j = 6
for i = 1, #KEYS - 2 do
  local k = KEYS[i + 2]
  local v = ARGV[j]
  local old = latest[k]
  if old == nil then old = olds[i] end
  if not old or newer(v, old) then
    latest[k] = v
    written = written + 1
    if width == 0 then
      sets[#sets + 1] = k
      sets[#sets + 1] = v
      if not old or (mixed and redis.call('PTTL', k) >= 0) then index('p', k) end
    else
      redis.call('SET', k, v, 'PXAT', ARGV[j + 1])
      local b = bucket(v)
      if not old or bucket(old) ~= b then index(b, k) end
    end
  end
  j = j + (width == 0 and 1 or 2)
end
if #sets > 0 then redis.call('MSET', unpack(sets)) end
for m, t in pairs(lists) do
  local name = string.format(m == 'p' and '%s' or '%d', m)
  local list = KEYS[2] .. ':' .. name
  redis.call('RPUSH', list, table.concat(t))
  if redis.call('SADD', KEYS[2], name) == 1 and m ~= 'p' then
    -- a new bucket (once per W): forget the buckets whose lists have expired
    for _, old in ipairs(redis.call('SMEMBERS', KEYS[2])) do
      if old ~= 'p' and redis.call('EXISTS', KEYS[2] .. ':' .. old) == 0 then
        redis.call('SREM', KEYS[2], old)
      end
    end
  end
  if m ~= 'p' then
    -- outlives every key of the bucket: their expiry is below (m + 1) * W + ttl
    redis.call('PEXPIREAT', list, string.format('%d', (m + 2) * width + ttl + 1))
  end
end
return written
"""

# KEYS: meta hash, state hash, gc list. ARGV: view, layout, a fresh tag.
# Returns the view's meta value: the stored one when its layout matches, else the new one
# (the old tag is queued for deletion and the view's state dropped).
PREPARE_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local sep = string.find(cur, ':', 1, true)
  if string.sub(cur, 1, sep - 1) == ARGV[2] then return cur end
  redis.call('RPUSH', KEYS[3], string.sub(cur, sep + 1))
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local new = ARGV[2] .. ':' .. ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], new)
return new
"""

# KEYS: meta hash, state hash, gc list. ARGV: view. Drops meta and state in one step, so
# the values are unreachable at once; their deletion follows through the gc list.
TEARDOWN_LUA = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if cur then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('RPUSH', KEYS[3], string.sub(cur, string.find(cur, ':', 1, true) + 1))
end
return cur
"""

# KEYS: gc list. ARGV: P, index key prefix (P fsql:J:idx:), list elements per call.
# One bounded step of deleting a dead tag's keys; returns 0 when nothing is left to do.
# Each step is atomic, so concurrent collectors and interruptions lose nothing.
COLLECT_LUA = """
local tag = redis.call('LINDEX', KEYS[1], 0)
if not tag then return 0 end
local reg = ARGV[2] .. tag
local m = redis.call('SRANDMEMBER', reg)
if not m then
  redis.call('LREM', KEYS[1], 0, tag)
  return 1
end
local items = redis.call('LPOP', reg .. ':' .. m, tonumber(ARGV[3]))
if not items then
  redis.call('SREM', reg, m)
  return 1
end
local base = ARGV[1] .. tag .. ':'
local batch = {}
for _, item in ipairs(items) do
  local pos = 1
  local n = #item
  while pos <= n do
    local len = string.byte(item, pos)
    if len >= 128 then
      len = (len - 128) * 256 + string.byte(item, pos + 1)
      pos = pos + 1
    end
    batch[#batch + 1] = base .. string.sub(item, pos + 1, pos + len)
    pos = pos + 1 + len
    if #batch >= 1000 then
      redis.call('UNLINK', unpack(batch))
      batch = {}
    end
  end
end
if #batch > 0 then redis.call('UNLINK', unpack(batch)) end
return 1
"""
