-- Presence: the unexpired entries as {client, info, client, info, ...}.
--
-- KEYS: presence hash, expiry set

local clients = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now_ms()), '+inf')
local out = {}
for i = 1, #clients, 1000 do
  local batch = {}
  for j = i, math.min(i + 999, #clients) do
    batch[#batch + 1] = clients[j]
  end
  local infos = redis.call('HMGET', KEYS[1], unpack(batch))
  for j, c in ipairs(batch) do
    if infos[j] then
      out[#out + 1] = c
      out[#out + 1] = infos[j]
    end
  end
end
return out
