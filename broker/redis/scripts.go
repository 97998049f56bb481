package redis

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts are the only writers of streams and presence: each runs
// atomically on the Redis that owns its keys, which is what keeps offsets,
// trimming, expiry and delivery consistent between nodes. Every script is
// run with EVALSHA and loaded with EVAL when the server lacks it (a restart,
// a new shard).

var (
	//go:embed scripts/common.lua
	luaCommon string
	//go:embed scripts/publish.lua
	luaPublish string
	//go:embed scripts/history.lua
	luaHistory string
	//go:embed scripts/presence_add.lua
	luaPresenceAdd string
	//go:embed scripts/presence_remove.lua
	luaPresenceRemove string
	//go:embed scripts/presence.lua
	luaPresence string
	//go:embed scripts/sweep.lua
	luaSweep string
)

var (
	scriptPublish        = redis.NewScript(luaCommon + luaPublish)
	scriptHistory        = redis.NewScript(luaCommon + luaHistory)
	scriptPresenceAdd    = redis.NewScript(luaCommon + luaPresenceAdd)
	scriptPresenceRemove = redis.NewScript(luaCommon + luaPresenceRemove)
	scriptPresence       = redis.NewScript(luaCommon + luaPresence)
	scriptSweep          = redis.NewScript(luaCommon + luaSweep)
)
