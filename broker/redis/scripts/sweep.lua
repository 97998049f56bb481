-- Sweep: remove up to 1000 expired presence entries and publish a leave for
-- each. Being atomic, exactly one sweeping node removes (and announces) an
-- entry, however many nodes sweep the channel.
--
-- KEYS: presence hash, expiry set
-- ARGV: 1 PUBLISH or SPUBLISH, 2 pub/sub channel
-- Returns how many entries were removed.

local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now_ms()), 'LIMIT', 0, 1000)
for _, c in ipairs(gone) do
  local info = redis.call('HGET', KEYS[1], c)
  redis.call('HDEL', KEYS[1], c)
  redis.call('ZREM', KEYS[2], c)
  if info then
    redis.call(ARGV[1], ARGV[2], 'l' .. info)
  end
end
return #gone
