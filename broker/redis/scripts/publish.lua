-- Publish: idempotency check, append, delivery, in one atomic step, so that
-- offsets never skip or repeat and pub/sub order is offset order.
--
-- KEYS: stream, meta[, idempotency key]
-- ARGV: 1 epoch for a new stream, 2 size, 3 ttl ms, 4 meta ttl ms,
--       5 idempotency ttl ms, 6 time ms (0: now), 7 body,
--       8 PUBLISH or SPUBLISH, 9 pub/sub channel, 10 message prefix
-- Returns {repeated, "<offset>:<epoch>", time}.

if #KEYS == 3 then
  local first = redis.call('GET', KEYS[3])
  if first then
    return {1, first, 0}
  end
end
local now = now_ms()
local t = tonumber(ARGV[6])
if t == 0 then
  t = now
end
local entry = int(t) .. ':' .. ARGV[7]
local size, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local offset, epoch = 0, ''
if size > 0 and ttl > 0 then
  local meta = redis.call('HMGET', KEYS[2], 'o', 'e')
  if meta[2] then
    epoch = meta[2]
    offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
    trim_expired(KEYS[1], now)
  else
    -- No position (never published, removed, expired, or lost with the
    -- server's data): a new stream, whatever an old one left behind.
    epoch, offset = ARGV[1], 1
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[2], 'o', 1, 'e', epoch)
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', size, int(offset) .. '-' .. int(now + ttl), 'd', entry)
  extend(KEYS[1], ttl)
  extend(KEYS[2], math.max(tonumber(ARGV[4]), ttl))
end
local pos = int(offset) .. ':' .. epoch
if #KEYS == 3 then
  redis.call('SET', KEYS[3], pos, 'PX', ARGV[5])
end
redis.call(ARGV[8], ARGV[9], ARGV[10] .. pos .. ':' .. entry)
return {0, pos, t}
