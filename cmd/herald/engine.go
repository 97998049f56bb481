package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/config"
)

// engineFlags are serve's shortcuts for the broker section of the
// configuration; each overrides its key when given.
type engineFlags struct {
	engine       string
	redis        []string
	redisCluster bool
	nats         string
	embedded     bool
	peers        []string
	clusterAddr  string
	natsDir      string
	nodeName     string
}

func (f *engineFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.engine, "broker", "", "broker engine: memory, redis or nats (broker.engine)")
	fl.StringSliceVar(&f.redis, "redis", nil, "Redis addresses, host:port; several shard channels (broker.redis.addrs; implies --broker redis)")
	fl.BoolVar(&f.redisCluster, "redis-cluster", false, "the Redis addresses are Redis Cluster seed nodes (broker.redis.cluster)")
	fl.StringVar(&f.nats, "nats", "", "NATS server URL (broker.nats.url; implies --broker nats)")
	fl.BoolVar(&f.embedded, "nats-embedded", false, "run a NATS server inside this process (broker.nats.embedded.enabled; implies --broker nats)")
	fl.StringSliceVar(&f.peers, "cluster-peers", nil, "the other nodes' embedded NATS cluster addresses, host:port (broker.nats.embedded.peers)")
	fl.StringVar(&f.clusterAddr, "cluster-listen", "", "this node's embedded NATS cluster address (broker.nats.embedded.cluster_listen)")
	fl.StringVar(&f.natsDir, "nats-dir", "", "embedded NATS JetStream store (broker.nats.embedded.dir)")
	fl.StringVar(&f.nodeName, "node-name", "", "this node's name in the info API (node_name)")
}

// apply writes the flags that were given over cfg.
func (f *engineFlags) apply(cmd *cobra.Command, cfg *config.Config) {
	changed := cmd.Flags().Changed
	b := &cfg.Broker
	if changed("redis") {
		b.Engine, b.Redis.Addrs = "redis", f.redis
	}
	if changed("redis-cluster") {
		b.Redis.Cluster = f.redisCluster
	}
	if changed("nats") {
		b.Engine, b.NATS.URL = "nats", f.nats
	}
	if changed("nats-embedded") {
		b.NATS.Embedded.Enabled = f.embedded
		if f.embedded {
			b.Engine = "nats"
		}
	}
	if changed("cluster-peers") {
		b.NATS.Embedded.Peers = f.peers
	}
	if changed("cluster-listen") {
		b.NATS.Embedded.ClusterListen = f.clusterAddr
	}
	if changed("nats-dir") {
		b.NATS.Embedded.Dir = f.natsDir
	}
	if changed("broker") {
		b.Engine = f.engine
	}
	if changed("node-name") {
		cfg.NodeName = f.nodeName
	}
}

// newBroker builds the engine the configuration names; the caller closes
// it. An engine left out of this build (engines.go) is an error naming the
// build tag that left it out.
func newBroker(cfg config.Config, log *slog.Logger) (broker.Broker, error) {
	bc := cfg.Broker
	switch bc.Engine {
	case "redis":
		return newRedisBroker(bc.Redis, log)
	case "nats":
		return newNATSBroker(cfg, log)
	case "memory":
		return memory.New(memory.Options{MaxRetainedBytes: bc.Memory.MaxRetainedBytes, MaxStreams: bc.Memory.MaxStreams}), nil
	}
	return nil, fmt.Errorf("unknown engine %q", bc.Engine)
}
