package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Scenarios lists the scenario names Run accepts.
var Scenarios = []string{"idle", "fanout", "channels", "echo", "connect"}

// Config is one bench run. Zero values take the defaults stated per field.
type Config struct {
	// Scenario is one of Scenarios.
	Scenario string
	// URL is the WebSocket endpoint. Default ws://127.0.0.1:8000/ws.
	URL string
	// URLs are the WebSocket endpoints of several nodes of one cluster:
	// client i connects to URLs[i mod len(URLs)], and reconnects there;
	// the client publisher connects to the first. Default: URL alone;
	// when set, URL is its first.
	URLs []string
	// Protocol is "herald" (default) or "raw": plain text frames that a
	// baseline server broadcasts to every connection (fanout and echo only).
	Protocol string
	// Connections is N: subscribers (fanout), clients (channels, echo,
	// idle, connect). Default 100.
	Connections int
	// Rate is publications per second (fanout; channels: over all personal
	// channels). Default 10.
	Rate float64
	// HotChannels is K for the channels scenario (default 1) and HotRate
	// the publications per second on each (default 1).
	HotChannels int
	HotRate     float64
	// Size is the payload size in bytes (fanout, channels). Default 128.
	Size int
	// Sizes are the echo payload sizes. Default 128, 1024, 4096.
	Sizes []int
	// EchoVia lists how echo round trips go: "echo" (the server's /echo
	// endpoint) and "self" (publish to a channel one is subscribed to).
	// Default both for Herald, "echo" for raw.
	EchoVia []string
	// EchoURL is the echo endpoint. Default URL with its path set to /echo.
	EchoURL string
	// Duration bounds each measured phase. Default 10s.
	Duration time.Duration
	// Drain is how long to wait for messages in flight after publishing
	// stops. Default 3s.
	Drain time.Duration
	// Channel prefixes every channel name; a run id follows it. Default
	// "bench:".
	Channel string
	// PublishVia is "client" (default: a protocol client publishes) or
	// "api" (the server API; needs APIKey).
	PublishVia string
	// APIURL is the server API base. Default URL's host over http(s) + /api.
	APIURL string
	// APIKey authenticates server API calls; never logged.
	APIKey string
	// TokenSecret mints an HS256 token per client (user "bench-N"); empty
	// with Anonymous connects without a token.
	TokenSecret string
	Anonymous   bool
	// SourceIPs are local addresses spread over the clients. Empty: on
	// IPv4 loopback, LoopbackSources (PerSourceAddress clients each);
	// elsewhere the system's choice.
	SourceIPs []net.IP
	// Publishers is how many connections the client publisher spreads its
	// publications over, round robin. Default: one per PublisherRate of
	// the rate (at most MaxAutoPublishers), so that no connection meets a
	// server's per-connection publish limit; one for raw.
	Publishers int
	// ConnectConcurrency is how many clients connect at once. Default 64.
	ConnectConcurrency int
	// Timeout bounds each handshake and each awaited reply. Default 10s.
	Timeout time.Duration
	// Compress offers permessage-deflate (RFC 7692, no context takeover
	// either way) on every WebSocket, and inflates what comes compressed.
	Compress bool
	// Storm makes the connect scenario hold its clients for Duration and
	// reconnect every one the server closes (a restart), timing the storm.
	Storm bool
	// ServerPIDs or MetricsURL let idle report server memory per
	// connection (the PIDs' sum, for a cluster); ServerPIDs also let
	// fanout and echo report the servers' CPU time per delivery, and each
	// server's CPU and memory.
	ServerPIDs []int
	// ServerPID is the one-server form of ServerPIDs: when set, it is
	// counted with them.
	ServerPID  int
	MetricsURL string
	// BrokerPID, with ServerPIDs, adds the broker's (Redis, NATS) CPU
	// time per delivery, counted apart from the servers'.
	BrokerPID int
	// Recover makes fanout subscribers that the server closes (a restart)
	// reconnect to the same node and subscribe again from the last offset
	// they received, and times each node's outage. The channel needs
	// history and recovery in its namespace.
	Recover bool
	// Ramp, when Enabled, raises the fanout rate step by step.
	Ramp Ramp
	// Progress, when set, receives a live status line every second.
	Progress interface{ Write([]byte) (int, error) }
	// Role splits fanout over worker processes: "" runs everything,
	// RoleSubscribers only the subscribers, RolePublisher only the
	// publisher (see Worker).
	Role string
	// Hooks are used with RoleSubscribers and Storm.
	Hooks WorkerHooks
	// RunID names this run's channels; default random. Workers share it.
	RunID string

	// apiBases are the API bases the API publisher uses, in order.
	apiBases []string
}

// Roles of a fanout split over processes.
const (
	RoleSubscribers = "subscribers"
	RolePublisher   = "publisher"
)

// PublisherRate is the most publications a second the default publisher
// sends over one connection: under Herald's default per-connection
// publish limit (limits.publish_rate, 50/s).
const PublisherRate = 40

// MaxAutoPublishers bounds the default number of publisher connections.
const MaxAutoPublishers = 64

// publishers is how many publisher connections publish at rate.
func (c *Config) publishers(rate float64) int {
	switch {
	case c.Publishers > 0:
		return c.Publishers
	case c.Protocol == "raw" || c.PublishVia == "api" || rate <= PublisherRate:
		// A raw server broadcasts to every connection, publishers too.
		return 1
	}
	return min(MaxAutoPublishers, int(math.Ceil(rate/PublisherRate)))
}

func (c *Config) defaults() error {
	if len(c.URLs) > 0 {
		c.URL = c.URLs[0]
	}
	if c.URL == "" {
		c.URL = "ws://127.0.0.1:8000/ws"
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{c.URL}
	}
	for _, s := range c.URLs {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
			return fmt.Errorf("bench: URL %q: want ws:// or wss://", s)
		}
	}
	u, _ := url.Parse(c.URL)
	if c.Protocol == "" {
		c.Protocol = "herald"
	}
	if c.Protocol != "herald" && c.Protocol != "raw" {
		return fmt.Errorf("bench: protocol %q: want herald or raw", c.Protocol)
	}
	if c.Protocol == "raw" && c.Scenario != "fanout" && c.Scenario != "echo" {
		return fmt.Errorf("bench: scenario %s needs the Herald protocol (raw supports fanout and echo)", c.Scenario)
	}
	found := false
	for _, s := range Scenarios {
		found = found || s == c.Scenario
	}
	if !found {
		return fmt.Errorf("bench: unknown scenario %q (want one of %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if c.Connections <= 0 {
		c.Connections = 100
	}
	if c.Rate <= 0 {
		c.Rate = 10
	}
	if c.HotChannels < 0 {
		return errors.New("bench: hot channels must be 0 or more")
	}
	if c.HotChannels == 0 && c.Scenario == "channels" {
		c.HotChannels = 1
	}
	if c.HotRate <= 0 {
		c.HotRate = 1
	}
	if c.Size <= 0 {
		c.Size = 128
	}
	if len(c.Sizes) == 0 {
		c.Sizes = []int{128, 1024, 4096}
	}
	if len(c.EchoVia) == 0 {
		c.EchoVia = []string{"echo", "self"}
		if c.Protocol == "raw" {
			c.EchoVia = []string{"echo"}
		}
	}
	for _, v := range c.EchoVia {
		if v != "echo" && v != "self" {
			return fmt.Errorf("bench: echo via %q: want echo or self", v)
		}
	}
	if c.EchoURL == "" {
		e := *u
		e.Path = "/echo" // Herald's and the baselines' echo endpoint
		c.EchoURL = e.String()
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 3 * time.Second
	}
	if c.Channel == "" {
		c.Channel = "bench:"
	}
	if c.PublishVia == "" {
		c.PublishVia = "client"
	}
	if c.PublishVia != "client" && c.PublishVia != "api" {
		return fmt.Errorf("bench: publish via %q: want client or api", c.PublishVia)
	}
	if c.PublishVia == "api" && c.Protocol == "raw" {
		return errors.New("bench: a raw server has no API: publish via client")
	}
	if c.PublishVia == "api" && c.APIKey == "" {
		return errors.New("bench: publishing through the API needs an API key")
	}
	explicitAPI := c.APIURL != ""
	if !explicitAPI {
		c.APIURL = apiURL(u)
	}
	c.apiBases = c.apiURLs(explicitAPI)
	if c.Recover && (c.Scenario != "fanout" || c.Protocol != "herald") {
		return errors.New("bench: recover is for the Herald protocol's fanout")
	}
	if c.Protocol == "herald" && c.TokenSecret == "" && !c.Anonymous {
		return errors.New("bench: give --token-secret to mint client tokens, or --anonymous")
	}
	if c.ServerPID > 0 && !slices.Contains(c.ServerPIDs, c.ServerPID) {
		c.ServerPIDs = append([]int{c.ServerPID}, c.ServerPIDs...)
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = 64
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Role != "" && c.Role != RoleSubscribers && c.Role != RolePublisher {
		return fmt.Errorf("bench: role %q", c.Role)
	}
	if c.RunID == "" {
		c.RunID = newRunID()
	}
	if c.Publishers < 0 {
		return errors.New("bench: publishers must be 0 (automatic) or more")
	}
	if len(c.SourceIPs) == 0 {
		pubs := c.publishers(c.Rate + c.HotRate*float64(c.HotChannels))
		if c.Ramp.Enabled && c.Publishers == 0 {
			pubs = MaxAutoPublishers // the rate rises step by step
		}
		c.SourceIPs = LoopbackSources(u.Hostname(), c.Connections+pubs)
	}
	return c.Ramp.defaults()
}

// apiURL is the server API base of the node whose WebSocket endpoint is u.
func apiURL(u *url.URL) string {
	a := *u
	a.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	a.Path = "/api"
	return a.String()
}

// apiURLs are the server API bases to publish through: APIURL when it was
// given (explicit), otherwise, when recovering, every node's, so that the
// publisher can fail over from a node that restarts.
func (c *Config) apiURLs(explicit bool) []string {
	if explicit || !c.Recover {
		return []string{c.APIURL}
	}
	out := make([]string, 0, len(c.URLs))
	for _, s := range c.URLs {
		u, _ := url.Parse(s)
		out = append(out, apiURL(u))
	}
	return out
}

// ParseIPRange reads "127.0.0.2-127.0.0.40", a single address, or a
// comma-separated list of either.
func ParseIPRange(s string) ([]net.IP, error) {
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, isRange := strings.Cut(part, "-")
		a := net.ParseIP(from).To4()
		b := a
		if isRange {
			b = net.ParseIP(to).To4()
		}
		if a == nil || b == nil {
			return nil, fmt.Errorf("bench: source address %q: want IPv4 A or A-B", part)
		}
		lo := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		hi := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if hi < lo || hi-lo > 65535 {
			return nil, fmt.Errorf("bench: source address range %q is empty or too large", part)
		}
		for v := lo; v <= hi; v++ {
			out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)))
			if v == hi {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("bench: no source addresses")
	}
	return out, nil
}

// WorkerHooks connect a fanout's subscribers-only processes to the process
// that publishes (see Config.Role). A run is one step, or one per rate of
// a ramp: the publisher publishes, Collect hands the count to the
// subscribers' Published, each of them drains and measures the step and
// gives it to StepDone, and Collect returns the step's merged results.
type WorkerHooks struct {
	// Ready is called once the subscribers are connected and subscribed
	// (and, in a connect storm, once every client is connected).
	Ready func()
	// Published blocks until the publisher finished a step and returns
	// how many publications of it to expect, or io.EOF when no step
	// follows.
	Published func(ctx context.Context) (uint64, error)
	// StepDone receives a subscribers-only process's result of a step.
	StepDone func(*Result) error
	// Collect, with RolePublisher, is called after each step with the
	// publications to expect and returns the subscribers' results of it,
	// merged.
	Collect func(ctx context.Context, published uint64) (*Result, error)
}
