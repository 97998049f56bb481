// Package embed runs a NATS server with JetStream inside the Herald
// process, so that the NATS broker needs no infrastructure. The embedded
// servers of several Herald nodes join into one NATS cluster through
// Options.Peers: NATS's own routes, Raft and JetStream replication, not
// Herald's. A cluster of three or more servers should give the broker
// Options.Replicas 3, so that losing a server loses nothing.
package embed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
)

// Options configures an embedded server. Every zero value means the
// default in its comment.
type Options struct {
	// Dir holds the JetStream store. Required: history, inboxes and
	// presence live there across restarts.
	Dir string
	// ServerName names the server in its cluster; it must be unique among
	// the peers and stay the same across restarts, since JetStream's Raft
	// groups know their members by it. Default: the cluster address when
	// clustered, else "herald".
	ServerName string
	// Host is the client listener's address. Default "127.0.0.1".
	Host string
	// Port is the client listener's port: 0 picks a free one, -1 opens no
	// listener (the broker then connects in process, see InProcess). A
	// clustered server always listens, since nats-server starts its routes
	// only once the client listener is up: -1 then means a free port.
	// Default 0.
	Port int
	// ClusterName must be the same on every peer. Default "herald".
	ClusterName string
	// ClusterHost and ClusterPort are where the other peers' routes
	// connect. Clustering is on when Peers is not empty. Defaults
	// "0.0.0.0" and 6222.
	ClusterHost string
	ClusterPort int
	// Peers are the other servers' cluster addresses, host:port. Listing
	// every peer on every node (this one included, which is ignored) is
	// fine. Default none: a single server.
	Peers []string
	// Logger receives the server's log. Default: discard.
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the server to accept
	// connections. Default 10s.
	StartTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	s *server.Server
}

var errNoDir = errors.New("embed: Options.Dir is required")

// Start starts a server and waits until it accepts connections. JetStream
// may need longer, until the cluster has elected a leader: see Ready.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errNoDir
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.ClusterName == "" {
		o.ClusterName = "herald"
	}
	if o.ClusterHost == "" {
		o.ClusterHost = "0.0.0.0"
	}
	if o.ClusterPort == 0 {
		o.ClusterPort = 6222
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	opts := &server.Options{
		ServerName:            o.ServerName,
		Host:                  o.Host,
		Port:                  o.Port,
		JetStream:             true,
		StoreDir:              o.Dir,
		NoSigs:                true,
		NoSystemAccount:       false,
		DisableShortFirstPing: true,
	}
	switch o.Port {
	case 0:
		opts.Port = server.RANDOM_PORT
	case -1:
		opts.DontListen = len(o.Peers) == 0
		opts.Port = server.RANDOM_PORT
	}
	self := net.JoinHostPort(o.ClusterHost, strconv.Itoa(o.ClusterPort))
	if len(o.Peers) > 0 {
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.ClusterHost, Port: o.ClusterPort}
		for _, p := range o.Peers {
			u, err := url.Parse("nats://" + p)
			if err != nil {
				return nil, fmt.Errorf("embed: peer %q: %w", p, err)
			}
			if p == self {
				continue
			}
			opts.Routes = append(opts.Routes, u)
		}
		if opts.ServerName == "" {
			opts.ServerName = self
		}
	}
	if opts.ServerName == "" {
		opts.ServerName = "herald"
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(&logger{o.Logger}, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(o.StartTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("embed: server not ready after %v", o.StartTimeout)
	}
	return &Server{s: s}, nil
}

// ClientURL is the client listener's URL, "" without one.
func (s *Server) ClientURL() string {
	if s.s.Addr() == nil {
		return ""
	}
	return s.s.ClientURL()
}

// ClusterAddr is where peers' routes connect, nil when not clustered.
func (s *Server) ClusterAddr() *net.TCPAddr { return s.s.ClusterAddr() }

// InProcess is a nats.Connect option that reaches this server without a
// socket (nats.InProcessServer).
func (s *Server) InProcess() natsgo.Option { return natsgo.InProcessServer(s.s) }

// Name is the server's name in its cluster.
func (s *Server) Name() string { return s.s.Name() }

// Ready waits until JetStream can serve requests: at once for a single
// server, and once the cluster has a current meta leader for a clustered
// one.
func (s *Server) Ready(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s.s.JetStreamEnabled() && s.s.JetStreamIsCurrent() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embed: JetStream not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// logger adapts slog to the server's logger.
type logger struct{ l *slog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.l.Info(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.l.Warn(fmt.Sprintf(format, v...)) }
func (l *logger) Fatalf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
