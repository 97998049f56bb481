package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/protocol"
)

const connectHelp = `Connect to a Herald server and speak the protocol interactively.
URL is ws:// or wss:// for the WebSocket endpoint, tcp:// or tls:// (host:port)
for the raw TCP listener, http:// or https:// (path /stream) for HTTP streaming,
the fallback where no WebSocket gets through.

Every push and reply is printed as one JSON line (or readably with --pretty),
in the JSON encoding's shape even when --proto puts Protobuf on the wire.
Commands are read from stdin, one per line:

  sub CHANNEL              subscribe
  unsub CHANNEL            unsubscribe
  pub CHANNEL JSON         publish
  send USER JSON           direct message
  presence CHANNEL         who is subscribed
  stats CHANNEL            presence counts
  history CHANNEL [LIMIT]  recent publications
  {"type": ...}            any command as raw JSON

The client reconnects and recovers its subscriptions like the Go SDK. It
exits 0 at the end of stdin and on Ctrl-C or SIGTERM, and 1 when the server
refuses or closes it for good, so it works in scripts.`

func connectCommand() *cobra.Command {
	var (
		token, name string
		subs, since []string
		pretty      bool
		useProto    bool
	)
	cmd := &cobra.Command{
		Use:   "connect URL",
		Short: "Interactive protocol client (like wscat, speaking Herald)",
		Long:  connectHelp,
		Example: `  herald connect ws://localhost:8000/ws --sub chat:lobby
  herald connect ws://localhost:8000/ws --token "$(herald token --user bob)" --pretty
  echo 'pub chat:lobby {"text":"hi"}' | herald connect ws://localhost:8000/ws
  herald connect tcp://localhost:8001 --sub chat:lobby   # the raw TCP listener (tcp.address)
  herald connect http://localhost:8000/stream --sub chat:lobby   # HTTP streaming`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			positions, err := parseSince(since)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s := &session{out: cmd.OutOrStdout(), pretty: pretty, quit: ctx.Done()}
			opts := client.Options{Token: token, Name: name}
			if useProto {
				opts.Encoding = protocol.Protobuf
			}
			err = s.run(ctx, args[0], opts, subs, positions, cmd.InOrStdin())
			if ctx.Err() != nil {
				// Asked to stop: whatever was under way (a connect being
				// retried, a command) ended with it, which is no error.
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&token, "token", "", "connection token (anonymous without)")
	f.StringVar(&name, "name", "herald-cli", "client name sent to the server")
	f.StringArrayVar(&subs, "sub", nil, "subscribe to CHANNEL on start (repeatable)")
	f.StringArrayVar(&since, "since", nil, "resume CHANNEL=OFFSET:EPOCH (repeatable; implies --sub)")
	f.BoolVar(&pretty, "pretty", false, "print readable lines instead of JSON")
	f.BoolVar(&useProto, "proto", false, "speak the Protobuf encoding (output stays JSON)")
	return cmd
}

// parseSince reads CHANNEL=OFFSET:EPOCH values.
func parseSince(values []string) (map[string]protocol.StreamPosition, error) {
	out := make(map[string]protocol.StreamPosition, len(values))
	for _, v := range values {
		ch, pos, ok := strings.Cut(v, "=")
		off, epoch, ok2 := strings.Cut(pos, ":")
		n, err := strconv.ParseUint(off, 10, 64)
		if !ok || !ok2 || err != nil || ch == "" {
			return nil, fmt.Errorf("--since %q: want CHANNEL=OFFSET:EPOCH", v)
		}
		out[ch] = protocol.StreamPosition{Offset: n, Epoch: epoch}
	}
	return out, nil
}

// session is one `herald connect` run: a client, its printer, and the
// command loop.
type session struct {
	out    io.Writer
	pretty bool
	quit   <-chan struct{} // closed on Ctrl-C or SIGTERM
	mu     sync.Mutex      // one line at a time; guards subs and held
	c      *client.Client
	subs   map[string]*client.Subscription
	// held keeps what a channel's handlers print while its subscribe is
	// in flight: the SDK may deliver a push (one's own join, say) before
	// Subscribe returns, and the reply line must come first, as on the wire.
	held map[string][]func()
}

// ordered prints now, or after the channel's subscribe reply if that is
// still to be printed.
func (s *session) ordered(channel string, print func()) {
	s.mu.Lock()
	if q, ok := s.held[channel]; ok {
		s.held[channel] = append(q, print)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	print()
}

// release prints what was held for channel, including whatever arrives
// meanwhile, and lets later pushes print directly.
func (s *session) release(channel string) {
	for {
		s.mu.Lock()
		q := s.held[channel]
		if len(q) == 0 {
			delete(s.held, channel)
			s.mu.Unlock()
			return
		}
		s.held[channel] = []func(){}
		s.mu.Unlock()
		for _, print := range q {
			print()
		}
	}
}

func (s *session) run(ctx context.Context, url string, opts client.Options, subs []string, since map[string]protocol.StreamPosition, in io.Reader) error {
	closed := make(chan error, 1)
	opts.OnState = func(sc client.StateChange) {
		s.state(sc)
		if sc.State == client.StateClosed && sc.Code != 0 {
			closed <- &client.CloseError{Code: sc.Code, Reason: sc.Reason}
		}
	}
	opts.OnDirect = s.direct
	opts.OnInboxLost = s.lost
	s.c = client.New(url, opts)
	if err := s.c.Connect(ctx); err != nil {
		return err
	}
	defer s.c.Close()
	for ch := range since {
		subs = append(subs, ch)
	}
	seen := map[string]bool{}
	for _, ch := range subs {
		if seen[ch] {
			continue
		}
		seen[ch] = true
		var from *protocol.StreamPosition
		if p, ok := since[ch]; ok {
			from = &p
		}
		s.subscribe(ctx, ch, from)
	}

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			s.command(ctx, strings.TrimSpace(line))
		case err := <-closed:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// command runs one stdin line.
func (s *session) command(ctx context.Context, line string) {
	if line == "" || strings.HasPrefix(line, "#") {
		return
	}
	if strings.HasPrefix(line, "{") {
		var cmd protocol.Command
		if err := json.Unmarshal([]byte(line), &cmd); err != nil || cmd.Type == "" {
			s.fail("raw", fmt.Errorf("not a command: %v", err))
			return
		}
		cmd.ID = 0
		res, err := s.c.Do(ctx, &cmd)
		s.reply(cmd.Type, cmd.Channel, res, err)
		return
	}
	verb, rest, _ := strings.Cut(line, " ")
	arg, payload, _ := strings.Cut(strings.TrimSpace(rest), " ")
	payload = strings.TrimSpace(payload)
	if arg == "" {
		s.fail(verb, errors.New("missing argument (try --help)"))
		return
	}
	var cmd *protocol.Command
	switch verb {
	case "sub":
		s.subscribe(ctx, arg, nil)
		return
	case "unsub":
		cmd = &protocol.Command{Type: protocol.TypeUnsubscribe, Channel: arg}
	case "pub", "send":
		if !json.Valid([]byte(payload)) {
			s.fail(verb, errors.New("data is not JSON (quote strings)"))
			return
		}
		cmd = &protocol.Command{Type: protocol.TypePublish, Channel: arg, Data: json.RawMessage(payload)}
		if verb == "send" {
			cmd = &protocol.Command{Type: protocol.TypeSend, User: arg, Data: json.RawMessage(payload)}
		}
	case "presence":
		cmd = &protocol.Command{Type: protocol.TypePresence, Channel: arg}
	case "stats":
		cmd = &protocol.Command{Type: protocol.TypePresenceStats, Channel: arg}
	case "history":
		cmd = &protocol.Command{Type: protocol.TypeHistory, Channel: arg}
		if payload != "" {
			n, err := strconv.Atoi(payload)
			if err != nil {
				s.fail(verb, errors.New("LIMIT is not a number"))
				return
			}
			cmd.Limit = &n
		}
	default:
		s.fail(verb, errors.New("unknown command (try --help)"))
		return
	}
	if verb == "unsub" {
		if sub := s.lookup(arg); sub != nil {
			s.reply(cmd.Type, arg, json.RawMessage(`{}`), sub.Unsubscribe(ctx))
			return
		}
	}
	res, err := s.c.Do(ctx, cmd)
	s.reply(cmd.Type, cmd.Channel, res, err)
}

// subscribe subscribes through the SDK, so the subscription is recovered
// after reconnects, and prints its reply.
func (s *session) subscribe(ctx context.Context, channel string, since *protocol.StreamPosition) {
	s.mu.Lock()
	if s.held == nil {
		s.held = map[string][]func(){}
	}
	s.held[channel] = []func(){}
	s.mu.Unlock()
	defer s.release(channel)
	sub, err := s.c.Subscribe(ctx, channel, client.SubscribeOptions{
		Since:     since,
		OnMessage: func(m client.Message) { s.ordered(channel, func() { s.message(m) }) },
		OnJoin: func(ci protocol.ClientInfo) {
			s.ordered(channel, func() { s.presence(protocol.PushJoin, channel, ci) })
		},
		OnLeave: func(ci protocol.ClientInfo) {
			s.ordered(channel, func() { s.presence(protocol.PushLeave, channel, ci) })
		},
		OnRecoveryLost: func(r client.RecoveryLost) { s.ordered(channel, func() { s.lost(r) }) },
		OnUnsubscribed: func(code int, reason string) {
			s.ordered(channel, func() {
				s.forget(channel)
				s.print(eventLine{Type: protocol.PushUnsubscribed, Channel: channel, Code: code, Reason: reason},
					fmt.Sprintf("[%s] unsubscribed by server: %s (%d)", channel, reason, code))
			})
		},
	})
	if err != nil {
		s.fail("subscribe "+channel, err)
		return
	}
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[string]*client.Subscription{}
	}
	s.subs[channel] = sub
	s.mu.Unlock()
	pos := sub.Position()
	res, _ := json.Marshal(pos)
	s.print(replyLine{Reply: protocol.TypeSubscribe, Channel: channel, Result: res},
		fmt.Sprintf("< subscribed %s at offset %d (epoch %s)", channel, pos.Offset, pos.Epoch))
}

func (s *session) lookup(channel string) *client.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[channel]
}

func (s *session) forget(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, channel)
}

// replyLine is how a command's outcome is printed: the command's type,
// then its result or error, as the wire reply has them.
type replyLine struct {
	Reply   string          `json:"reply"`
	Channel string          `json:"channel,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *protocol.Error `json:"error,omitempty"`
}

// eventLine is how the client's own events are printed, shaped like pushes.
type eventLine struct {
	Type     string                   `json:"type"`
	Channel  string                   `json:"channel,omitempty"`
	State    string                   `json:"state,omitempty"`
	Code     int                      `json:"code,omitempty"`
	Reason   string                   `json:"reason,omitempty"`
	Error    string                   `json:"error,omitempty"`
	Since    *protocol.StreamPosition `json:"since,omitempty"`
	Position *protocol.StreamPosition `json:"position,omitempty"`
}

// printLine writes one line under the lock.
func (s *session) printLine(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Write(append(line, '\n'))
}

// print writes v as JSON, or text when --pretty.
func (s *session) print(v any, text string) {
	if s.pretty {
		s.printLine([]byte(text))
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	s.printLine(b)
}

func (s *session) message(m client.Message) {
	pub := &protocol.Publication{Offset: m.Offset, Data: m.Data, Info: m.Info, Time: m.Time.UnixMilli()}
	if !s.pretty {
		s.printLine(protocol.JSON.AppendMessagePush(nil, m.Channel, pub))
		return
	}
	s.printLine([]byte(pubText(m.Channel, pub)))
}

// pubText is a publication as --pretty prints it, live or from history.
func pubText(channel string, p *protocol.Publication) string {
	who := "server"
	if p.Info != nil {
		who = orAnonymous(p.Info.User)
	}
	return fmt.Sprintf("[%s #%d] %s: %s", channel, p.Offset, who, readable(p.Data))
}

func (s *session) presence(typ, channel string, ci protocol.ClientInfo) {
	if !s.pretty {
		s.printLine(protocol.JSON.AppendPresencePush(nil, typ, channel, ci))
		return
	}
	sign := "+"
	if typ == protocol.PushLeave {
		sign = "-"
	}
	s.printLine([]byte(fmt.Sprintf("[%s] %s %s (%s)", channel, sign, orAnonymous(ci.User), ci.Client)))
}

func (s *session) direct(d client.Direct) {
	pub := &protocol.Publication{Offset: d.Offset, Data: d.Data, Time: d.Time.UnixMilli()}
	if !s.pretty {
		s.printLine(protocol.JSON.AppendDirectPush(nil, d.From, pub))
		return
	}
	from := d.From.User
	if from == "" {
		from = "server"
	}
	s.printLine([]byte(fmt.Sprintf("[direct #%d] %s: %s", d.Offset, from, readable(d.Data))))
}

func (s *session) lost(r client.RecoveryLost) {
	s.print(eventLine{Type: "recovery_lost", Channel: r.Channel, Since: &r.Since, Position: &r.Position},
		fmt.Sprintf("[%s] ! missed messages could not be recovered (had %d, stream at %d)", r.Channel, r.Since.Offset, r.Position.Offset))
}

func (s *session) state(sc client.StateChange) {
	v := eventLine{Type: "state", State: sc.State.String(), Code: int(sc.Code), Reason: sc.Reason}
	text := "* " + sc.State.String()
	if sc.Code != 0 {
		text += fmt.Sprintf(" (%d %s)", sc.Code, sc.Reason)
	}
	if sc.Err != nil {
		v.Error = sc.Err.Error()
		text += ": " + sc.Err.Error()
	}
	s.print(v, text)
}

// reply prints a command's outcome; channel is the command's, if any.
func (s *session) reply(typ, channel string, res json.RawMessage, err error) {
	if err != nil {
		s.fail(typ, err)
		return
	}
	if len(res) == 0 {
		res = json.RawMessage(`{}`)
	}
	text, ok := prettyResult(typ, channel, res)
	if !ok {
		text = fmt.Sprintf("< %s %s", typ, res)
	}
	s.print(replyLine{Reply: typ, Result: res}, text)
}

// prettyResult renders the results that are lists, presence and history,
// one entry a line, and presence counts in words. It reports false for
// other results, and for one it cannot read, which print as JSON.
func prettyResult(typ, channel string, res json.RawMessage) (string, bool) {
	var b strings.Builder
	switch typ {
	case protocol.TypePresence:
		var r protocol.PresenceResult
		if json.Unmarshal(res, &r) != nil {
			return "", false
		}
		fmt.Fprintf(&b, "< presence %s: %s", channel, plural(len(r.Clients), "client"))
		ids := make([]string, 0, len(r.Clients))
		for id := range r.Clients {
			ids = append(ids, id)
		}
		// By user, then connection: one user's connections together.
		slices.SortFunc(ids, func(x, y string) int {
			return cmp.Or(cmp.Compare(r.Clients[x].User, r.Clients[y].User), cmp.Compare(x, y))
		})
		for _, id := range ids {
			e := r.Clients[id]
			fmt.Fprintf(&b, "\n    %s (%s)", orAnonymous(e.User), id)
			if len(e.Info) > 0 {
				fmt.Fprintf(&b, " %s", e.Info)
			}
		}
	case protocol.TypePresenceStats:
		var r protocol.PresenceStatsResult
		if json.Unmarshal(res, &r) != nil {
			return "", false
		}
		fmt.Fprintf(&b, "< presence_stats %s: %s, %s", channel, plural(r.Clients, "client"), plural(r.Users, "user"))
	case protocol.TypeHistory:
		var r protocol.HistoryResult
		if json.Unmarshal(res, &r) != nil {
			return "", false
		}
		fmt.Fprintf(&b, "< history %s: %s; the stream is at offset %d (epoch %s)",
			channel, plural(len(r.Publications), "publication"), r.Offset, r.Epoch)
		for _, p := range r.Publications {
			fmt.Fprintf(&b, "\n    %s", pubText(channel, p))
		}
	default:
		return "", false
	}
	return b.String(), true
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// fail prints why a command failed, unless it failed because the session
// is stopping (Ctrl-C, SIGTERM), which ends it quietly.
func (s *session) fail(what string, err error) {
	select {
	case <-s.quit:
		return
	default:
	}
	v := replyLine{Reply: what, Error: &protocol.Error{Message: err.Error()}}
	var e *client.Error
	if errors.As(err, &e) {
		v.Error = &protocol.Error{Code: e.Code, Message: e.Message, Temporary: e.Temporary()}
	}
	s.print(v, fmt.Sprintf("< %s failed: %v", what, err))
}

func readable(data []byte) string {
	if json.Valid(data) {
		return string(data)
	}
	return fmt.Sprintf("%q", data)
}

func orAnonymous(user string) string {
	if user == "" {
		return "anonymous"
	}
	return user
}
