package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	natsgo "github.com/nats-io/nats.go"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	natsbroker "github.com/heraldhq/herald/broker/nats"
	"github.com/heraldhq/herald/broker/nats/embed"
	"github.com/heraldhq/herald/broker/redis"
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
// it.
func newBroker(cfg config.Config, log *slog.Logger) (broker.Broker, error) {
	bc := cfg.Broker
	switch bc.Engine {
	case "redis":
		// go-redis logs its own connection troubles through a process-wide
		// logger; send them to ours, at debug level, since the broker
		// reports what matters (lost and recovered connections) itself.
		goredis.SetLogger(redisLogger{log.With("broker", "redis")})
		addrs := bc.Redis.Addrs
		if bc.Redis.Username != "" || bc.Redis.Password != "" {
			addrs = make([]string, len(bc.Redis.Addrs))
			for i, a := range bc.Redis.Addrs {
				u := url.URL{Scheme: "redis", Host: a, User: url.UserPassword(bc.Redis.Username, bc.Redis.Password)}
				addrs[i] = u.String()
			}
		}
		return redis.New(redis.Options{
			Addrs:   addrs,
			Cluster: bc.Redis.Cluster,
			Prefix:  bc.Redis.Prefix,
			Logger:  log.With("broker", "redis"),
		})
	case "nats":
		return newNATSBroker(cfg, log)
	case "memory":
		return memory.New(memory.Options{MaxRetainedBytes: bc.Memory.MaxRetainedBytes, MaxStreams: bc.Memory.MaxStreams}), nil
	}
	return nil, fmt.Errorf("unknown engine %q", bc.Engine)
}

// newNATSBroker connects to the configured NATS, first starting the
// embedded server when the configuration asks for one.
func newNATSBroker(cfg config.Config, log *slog.Logger) (broker.Broker, error) {
	nc := cfg.Broker.NATS
	opts := natsbroker.Options{
		URL:      nc.URL,
		Prefix:   nc.Prefix,
		Replicas: nc.Replicas,
		Name:     "herald " + cfg.NodeName,
		Logger:   log.With("broker", "nats"),
	}
	if !nc.Embedded.Enabled {
		return natsbroker.New(opts)
	}
	e := nc.Embedded
	host, port, err := hostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen: %w", err)
	}
	chost, cport, err := hostPort(e.ClusterListen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS cluster listen: %w", err)
	}
	srv, err := embed.Start(embed.Options{
		Dir:         e.Dir,
		ServerName:  cfg.NodeName,
		Host:        host,
		Port:        port,
		ClusterName: e.ClusterName,
		ClusterHost: chost,
		ClusterPort: cport,
		Peers:       e.Peers,
		Logger:      log.With("nats", "embedded"),
	})
	if err != nil {
		return nil, err
	}
	log.Info("embedded NATS started", "client", srv.ClientURL(), "peers", len(e.Peers))
	// A clustered JetStream serves nothing until its peers have elected a
	// leader, which needs a majority of them up: wait for it rather than
	// fail, since the nodes of a new cluster start one by one.
	ctx, cancel := context.WithTimeout(context.Background(), embeddedReadyTimeout)
	err = srv.Ready(ctx)
	cancel()
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS: %w (are a majority of --cluster-peers up?)", err)
	}
	opts.URL = ""
	opts.ConnOptions = []natsgo.Option{srv.InProcess()}
	// A new cluster's nodes create the same streams at once, and JetStream
	// may take a few seconds to settle them: try again until it has.
	deadline := time.Now().Add(embeddedReadyTimeout)
	for {
		b, err := natsbroker.New(opts)
		if err == nil {
			return &embeddedBroker{Broker: b, srv: srv}, nil
		}
		if time.Now().After(deadline) {
			srv.Shutdown()
			return nil, err
		}
		log.Warn("embedded NATS not ready yet", "err", err)
		time.Sleep(time.Second)
	}
}

// embeddedReadyTimeout bounds the wait for an embedded NATS cluster's
// JetStream.
const embeddedReadyTimeout = 2 * time.Minute

// embeddedBroker is the NATS broker together with the server it runs on,
// which closes after it.
type embeddedBroker struct {
	*natsbroker.Broker
	srv *embed.Server
}

func (b *embeddedBroker) Close() error {
	err := b.Broker.Close()
	b.srv.Shutdown()
	return err
}

func hostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// redisLogger adapts slog to go-redis's logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}
