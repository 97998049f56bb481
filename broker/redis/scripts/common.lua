-- Helpers prepended to every script. Time is always Redis's own (TIME),
-- so that one clock orders a stream's expiries whichever node publishes.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

-- extend makes key live at least ms more; a longer TTL is kept.
local function extend(key, ms)
  local cur = redis.call('PTTL', key)
  if cur == -1 or (cur >= 0 and cur < ms) then
    redis.call('PEXPIRE', key, ms)
  end
end

-- trim_expired drops expired entries from the oldest end only, so that the
-- retained entries stay a contiguous run of offsets. An entry's ID is
-- <offset>-<expiry ms>. It looks at TRIM_BUDGET entries at most, so that a
-- stream whose publications expired all at once is trimmed over several
-- calls rather than stalling Redis in one; until then reads still return
-- the expired entries left at the old end, which is safe: they are real
-- publications, contiguous with the rest.
local TRIM_BUDGET = 1000

local function trim_expired(key, now)
  local start, count, seen = '-', 1, 0
  while true do
    local entries = redis.call('XRANGE', key, start, '+', 'COUNT', count)
    if #entries == 0 then
      if start ~= '-' then
        redis.call('DEL', key) -- every entry had expired
      end
      return
    end
    for i, e in ipairs(entries) do
      if tonumber(string.match(e[1], '%-(%d+)$')) > now then
        if i > 1 or start ~= '-' then
          redis.call('XTRIM', key, 'MINID', e[1])
        end
        return
      end
    end
    local last = entries[#entries][1]
    seen = seen + #entries
    if seen >= TRIM_BUDGET then
      -- Through the last entry seen: the smallest ID above it.
      local offset, expiry = string.match(last, '^(%d+)%-(%d+)$')
      redis.call('XTRIM', key, 'MINID', offset .. '-' .. int(tonumber(expiry) + 1))
      return
    end
    start, count = '(' .. last, math.min(100, TRIM_BUDGET - seen)
  end
end
