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
	"strings"
	"sync/atomic"
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
	s   *server.Server
	log *logger // nil without Options.Logger
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
		// A peer that goes away (a rolling restart) is reported at the
		// first failed attempt to reach it and then once a minute (a try
		// a second), not at every try on every route of the pool.
		ReconnectErrorReports: 60,
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
	var log *logger
	if o.Logger != nil {
		log = &logger{l: o.Logger}
		s.SetLoggerV2(log, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(o.StartTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("embed: server not ready after %v", o.StartTimeout)
	}
	return &Server{s: s, log: log}, nil
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
			if s.log != nil {
				s.log.started.Store(true)
			}
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
//
// nats-server speaks as a stand-alone server: a banner of thirty lines and a
// notice for every step, and, while a cluster's peers are still starting, an
// error for every route it cannot connect yet and warnings that no leader
// is known. Inside Herald those are details, and a new cluster's nodes
// start one by one: notices go to debug, and until Ready has seen the
// cluster serve, so do the errors and warnings a starting cluster expects.
// After that they are kept, a route error as a warning (a peer is away,
// this node serves on). The timings of the snapshots a node takes at every
// shutdown are debug too; every other warning and error keeps its level.
type logger struct {
	l *slog.Logger
	// started is set once Ready has returned nil.
	started atomic.Bool
}

// startupNoise are the beginnings of the messages a cluster logs while its
// peers are starting.
var startupNoise = []string{
	"Error trying to connect to route",
	"Waiting for routing to be established",
	"JetStream has not established contact with a meta leader",
}

// routeError begins the message of a failed route connection.
const routeError = "Error trying to connect to route"

// routine are the beginnings of warnings that report the time a metadata
// snapshot took, which a node takes at every shutdown: debug at any time.
var routine = []string{
	"Metalayer blocking snapshot",
	"Metalayer async snapshot",
	"Metalayer snapshot generation",
}

func hasPrefix(msg string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// expected reports whether a warning or an error is to be logged at debug
// level.
func (l *logger) expected(msg string) bool {
	return hasPrefix(msg, routine) || !l.started.Load() && hasPrefix(msg, startupNoise)
}

func (l *logger) Noticef(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }

func (l *logger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.expected(msg) {
		l.l.Debug(msg)
		return
	}
	l.l.Warn(msg)
}

func (l *logger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	switch {
	case l.expected(msg):
		l.l.Debug(msg)
	case strings.HasPrefix(msg, routeError):
		l.l.Warn(msg)
	default:
		l.l.Error(msg)
	}
}

func (l *logger) Fatalf(format string, v ...any) { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
