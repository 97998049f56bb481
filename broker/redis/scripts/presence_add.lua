-- AddPresence: set the entry and its expiry. The keys outlive the latest
-- expiry by a grace period, so that a sweep still finds an expired entry
-- and announces its leave; then they go by themselves.
--
-- KEYS: presence hash, expiry set
-- ARGV: 1 client, 2 info, 3 ttl ms, 4 grace ms

local now = now_ms()
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
extend(KEYS[1], ttl + tonumber(ARGV[4]))
extend(KEYS[2], ttl + tonumber(ARGV[4]))
return 0
