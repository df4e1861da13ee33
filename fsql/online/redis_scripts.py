"""The Lua scripts of the Redis online store: the data-plane upsert and the key collector.

Both run atomically inside Redis. The upsert checks, in the same step as its writes, that
the namespaces it writes are still the ones the caller expects (else it fails with
FSQL_STALE and the caller re-reads them and repeats the batch); so no script ever writes
under a tag once a control-plane transaction has taken it out of the meta or pending hash
(and queued it in the gc list), and the collector can delete a dead tag's keys for good.

The scripts compare the ordering prefix with `struct.unpack` (unsigned 32-bit words),
never with Lua's `<` on strings: Redis calls `setlocale(LC_COLLATE, "")` and Lua 5.1
compares strings with `strcoll`, so under a server's non-C locale the order of arbitrary
bytes is not guaranteed to be bytewise. For the same reason nothing here sorts strings.

Redis Cluster is not supported: the scripts build key names they are not given in KEYS.
"""

from __future__ import annotations

# KEYS: meta hash, pending hash.
# ARGV: 1 view, 2 expected meta value ('' = the live namespace is not written),
#       3 pending check: '' none, 'D' the pending tags of (view, layout, view_hash) must be
#       exactly the listed ones, 'T' every listed tag must be pending,
#       4 layout, 5 view_hash, 6 listed pending tags (comma-separated, may be empty),
#       7 P, 8 index key prefix (P fsql:J:idx:), 9 W in ms (0: no expiry), 10 ttl in ms,
#       then per row: K, value, and its PXAT in ms when W > 0. K is at most 32,767 bytes
#       (redis_codec.MAX_KEY_BYTES: the client skips rows with longer keys), so that its
#       length fits the 1 or 2 bytes of an index entry.
# Writes every row into the live namespace (when expected) and each listed pending one.
# Returns the number of values written, or the error FSQL_STALE when a check fails.
# One MGET and one MSET per namespace (without expiry): a redis.call costs about a
# microsecond, more than the comparison itself.
UPSERT_LUA = """
local view = ARGV[1]
local tags = {}
if ARGV[2] ~= '' then
  local cur = redis.call('HGET', KEYS[1], view)
  if cur ~= ARGV[2] then
    return redis.error_reply('FSQL_STALE the live namespace changed')
  end
  local a = string.find(cur, ':', 1, true)
  local b = string.find(cur, ':', a + 1, true) or (#cur + 1)
  tags[1] = string.sub(cur, a + 1, b - 1)
end
local listed, count = {}, 0
for t in string.gmatch(ARGV[6], '[^,]+') do
  listed[t] = true
  count = count + 1
  tags[#tags + 1] = t
end
if ARGV[3] == 'D' then
  local all = redis.call('HGETALL', KEYS[2])
  local found = 0
  for i = 1, #all, 2 do
    local e = cmsgpack.unpack(all[i + 1])
    if e[1] == view and e[2] == ARGV[4] and e[3] == ARGV[5] then
      if not listed[all[i]] then
        return redis.error_reply('FSQL_STALE a rebuild began')
      end
      found = found + 1
    end
  end
  if found ~= count then return redis.error_reply('FSQL_STALE a rebuild ended') end
elseif ARGV[3] == 'T' then
  for t in pairs(listed) do
    if redis.call('HEXISTS', KEYS[2], t) == 0 then
      return redis.error_reply('FSQL_STALE the rebuild ended')
    end
  end
end
local width = tonumber(ARGV[9])
local ttl = tonumber(ARGV[10])
local wus = width * 1000
local per = width == 0 and 2 or 3
local first = 11
local n = (#ARGV - first + 1) / per
local unpack4 = struct.unpack
local function newer(v, old)
  local a1, a2, a3, a4, a5, a6 = unpack4('>I4I4I4I4I4I4', v)
  local b1, b2, b3, b4, b5, b6 = unpack4('>I4I4I4I4I4I4', old)
  if a1 ~= b1 then return a1 > b1 end
  if a2 ~= b2 then return a2 > b2 end
  if a3 ~= b3 then return a3 > b3 end
  if a4 ~= b4 then return a4 > b4 end
  if a5 ~= b5 then return a5 > b5 end
  return a6 > b6
end
local function bucket(v)  -- event time (exact below 2^53 us) // W
  local a1, a2 = unpack4('>I4I4', v)
  return math.floor(((a1 - 2147483648) * 4294967296 + a2) / wus)
end
local function index(lists, m, s)
  local t = lists[m]
  if not t then t = {}; lists[m] = t end
  local len = #s
  if len < 128 then
    t[#t + 1] = string.char(len) .. s
  else
    t[#t + 1] = string.char(128 + math.floor(len / 256), len % 256) .. s
  end
end
local function flush(lists, reg)
  for m, t in pairs(lists) do
    local name = string.format(m == 'p' and '%s' or '%d', m)
    local list = reg .. ':' .. name
    redis.call('RPUSH', list, table.concat(t))
    if redis.call('SADD', reg, name) == 1 and m ~= 'p' then
      -- a new bucket (once per W): forget the buckets whose lists have expired
      for _, old in ipairs(redis.call('SMEMBERS', reg)) do
        if old ~= 'p' and redis.call('EXISTS', reg .. ':' .. old) == 0 then
          redis.call('SREM', reg, old)
        end
      end
    end
    if m ~= 'p' then
      -- outlives every key of the bucket: their expiry is below (m + 1) * W + ttl
      redis.call('PEXPIREAT', list, string.format('%d', (m + 2) * width + ttl + 1))
    end
  end
end
local written = 0
for _, tag in ipairs(tags) do
  local base = ARGV[7] .. tag .. ':'
  local reg = ARGV[8] .. tag
  local keys = {}
  for i = 1, n do keys[i] = base .. ARGV[first + (i - 1) * per] end
  local olds = redis.call('MGET', unpack(keys))
  local mixed = false  -- keys of this tag were written with expiry: they may sit in buckets only
  if width == 0 then
    mixed = redis.call('SCARD', reg) > redis.call('SISMEMBER', reg, 'p')
  end
  local latest, sets, lists = {}, {}, {}
  for i = 1, n do
    local j = first + (i - 1) * per
    local k = keys[i]
    local v = ARGV[j + 1]
    local old = latest[k]
    if old == nil then old = olds[i] end
    if not old or newer(v, old) then
      latest[k] = v
      written = written + 1
      if width == 0 then
        sets[#sets + 1] = k
        sets[#sets + 1] = v
        if not old or (mixed and redis.call('PTTL', k) >= 0) then index(lists, 'p', ARGV[j]) end
      else
        redis.call('SET', k, v, 'PXAT', ARGV[j + 2])
        local b = bucket(v)
        if not old or bucket(old) ~= b then index(lists, b, ARGV[j]) end
      end
    end
  end
  if #sets > 0 then redis.call('MSET', unpack(sets)) end
  flush(lists, reg)
end
return written
"""

# KEYS: gc list. ARGV: P, index key prefix (P fsql:J:idx:), list elements per call, grace
# in ms. One bounded step of deleting a dead tag's keys: the first gc element retired at
# least `grace` ms ago (by the server's clock); returns 0 when nothing is left to do now.
# Each step is atomic, so concurrent collectors and interruptions lose nothing.
COLLECT_LUA = """
if redis.replicate_commands then redis.replicate_commands() end  -- TIME, then writes
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local grace = tonumber(ARGV[4])
local entry, tag
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local sep = string.find(e, ':', 1, true)
  local retired = sep and tonumber(string.sub(e, sep + 1)) or 0
  if now - retired >= grace then
    entry = e
    tag = sep and string.sub(e, 1, sep - 1) or e
    break
  end
end
if not entry then return 0 end
local reg = ARGV[2] .. tag
local m = redis.call('SRANDMEMBER', reg)
if not m then
  redis.call('LREM', KEYS[1], 0, entry)
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
