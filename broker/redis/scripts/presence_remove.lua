-- RemovePresence: remove an entry and, when asked, announce its leave.
-- Being atomic, like the sweep, exactly one of a removal and a sweep finds
-- the entry and announces it; a removal repeated after its reply was lost
-- finds nothing and announces nothing.
--
-- KEYS: presence hash, expiry set
-- ARGV: 1 client, 2 leave message ('' for none), 3 PUBLISH or SPUBLISH,
--       4 pub/sub channel
-- Returns 1 if the entry was there, else 0.

local there = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if there == 1 and ARGV[2] ~= '' then
  redis.call(ARGV[3], ARGV[4], ARGV[2])
end
return there
