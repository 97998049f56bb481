-- History: the stream's position and the entries selected, creating the
-- position (offset 0, a new epoch) of a stream that has none, so that an
-- empty channel's epoch stays the same until it loses continuity.
--
-- KEYS: stream, meta
-- ARGV: 1 epoch for a new stream, 2 meta ttl ms, 3 "1" when since is set,
--       4 since offset, 5 since epoch, 6 limit, 7 "1" for newest first
-- Returns {top, epoch, unrecoverable, id, entry, id, entry, ...}.

local now = now_ms()
local meta = redis.call('HMGET', KEYS[2], 'o', 'e')
local top, epoch = tonumber(meta[1]), meta[2]
if not epoch then
  top, epoch = 0, ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'o', 0, 'e', epoch)
else
  trim_expired(KEYS[1], now)
end
extend(KEYS[2], tonumber(ARGV[2]))

local from = top - redis.call('XLEN', KEYS[1]) + 1 -- oldest retained
local broken = 0
if ARGV[3] == '1' then
  local since = tonumber(ARGV[4])
  if ARGV[5] ~= epoch or since > top or since + 1 < from then
    broken = 1 -- not a position in this run, or a gap after it
  else
    from = since + 1
  end
end
local out = {top, epoch, broken}
local limit = tonumber(ARGV[6])
if limit < 0 or from > top then
  return out
end
local entries
if ARGV[7] == '1' then
  if limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[1], '+', int(from), 'COUNT', limit)
  else
    entries = redis.call('XREVRANGE', KEYS[1], '+', int(from))
  end
else
  if limit > 0 then
    entries = redis.call('XRANGE', KEYS[1], int(from), '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[1], int(from), '+')
  end
end
for _, e in ipairs(entries) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
