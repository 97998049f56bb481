package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/heraldhq/herald/protocol/pb"
)

// Conversions between this package's types and the generated pb types. Both
// encodings decode into, and encode from, the same Go types, so the server
// and clients above this package never see which encoding a connection
// speaks.

func positionToPB(p *StreamPosition) *pb.StreamPosition {
	if p == nil {
		return nil
	}
	return &pb.StreamPosition{Offset: p.Offset, Epoch: p.Epoch}
}

func positionFromPB(p *pb.StreamPosition) *StreamPosition {
	if p == nil {
		return nil
	}
	return &StreamPosition{Offset: p.Offset, Epoch: p.Epoch}
}

func commandFromPB(m *pb.Command) *Command {
	cmd := &Command{
		ID:         m.Id,
		Type:       m.Type,
		Token:      m.Token,
		Name:       m.Name,
		Version:    m.Version,
		InboxSince: positionFromPB(m.InboxSince),
		Channel:    m.Channel,
		Since:      positionFromPB(m.Since),
		Reverse:    m.Reverse,
		Data:       m.Data,
		User:       m.User,
	}
	if m.Limit != nil {
		n := int(*m.Limit)
		if int64(n) != *m.Limit { // beyond int on 32-bit platforms
			n = -1
		}
		cmd.Limit = &n
	}
	if len(m.Subs) > 0 {
		cmd.Subs = make(map[string]SubscribeSince, len(m.Subs))
		for ch, s := range m.Subs {
			var since *StreamPosition
			if s != nil {
				since = positionFromPB(s.Since)
			}
			cmd.Subs[ch] = SubscribeSince{Since: since}
		}
	}
	return cmd
}

func commandToPB(cmd *Command) *pb.Command {
	m := &pb.Command{
		Id:         cmd.ID,
		Type:       cmd.Type,
		Token:      cmd.Token,
		Name:       cmd.Name,
		Version:    cmd.Version,
		InboxSince: positionToPB(cmd.InboxSince),
		Channel:    cmd.Channel,
		Since:      positionToPB(cmd.Since),
		Reverse:    cmd.Reverse,
		Data:       cmd.Data,
		User:       cmd.User,
	}
	if cmd.Limit != nil {
		n := int64(*cmd.Limit)
		m.Limit = &n
	}
	if len(cmd.Subs) > 0 {
		m.Subs = make(map[string]*pb.SubscribeSince, len(cmd.Subs))
		for ch, s := range cmd.Subs {
			m.Subs[ch] = &pb.SubscribeSince{Since: positionToPB(s.Since)}
		}
	}
	return m
}

func errorToPB(e *Error) *pb.Error {
	if e == nil {
		return nil
	}
	return &pb.Error{Code: uint32(e.Code), Message: e.Message, Temporary: e.Temporary}
}

func errorFromPB(e *pb.Error) *Error {
	if e == nil {
		return nil
	}
	return &Error{Code: ErrorCode(e.Code), Message: e.Message, Temporary: e.Temporary}
}

func clientInfoToPB(ci *ClientInfo) *pb.ClientInfo {
	if ci == nil {
		return nil
	}
	return &pb.ClientInfo{User: ci.User, Client: ci.Client}
}

func clientInfoFromPB(ci *pb.ClientInfo) *ClientInfo {
	if ci == nil {
		return nil
	}
	return &ClientInfo{User: ci.User, Client: ci.Client}
}

func publicationsToPB(pubs []*Publication) []*pb.Publication {
	if pubs == nil {
		return nil
	}
	out := make([]*pb.Publication, len(pubs))
	for i, p := range pubs {
		out[i] = &pb.Publication{Offset: p.Offset, Data: p.Data, Info: clientInfoToPB(p.Info), Ts: p.Time}
	}
	return out
}

// publicationsFromPB never returns nil: JSON results carry an empty list,
// not a missing one, and tools relaying results should see the same.
func publicationsFromPB(pubs []*pb.Publication) []*Publication {
	out := make([]*Publication, len(pubs))
	for i, p := range pubs {
		out[i] = &Publication{Offset: p.Offset, Data: p.Data, Info: clientInfoFromPB(p.Info), Time: p.Ts}
	}
	return out
}

func subscribeResultToPB(r *SubscribeResult) *pb.SubscribeResult {
	return &pb.SubscribeResult{
		Offset:       r.Offset,
		Epoch:        r.Epoch,
		Recovered:    r.Recovered,
		Publications: publicationsToPB(r.Publications),
		Error:        errorToPB(r.Error),
		More:         r.More,
	}
}

func subscribeResultFromPB(r *pb.SubscribeResult) *SubscribeResult {
	out := &SubscribeResult{
		Offset:    r.Offset,
		Epoch:     r.Epoch,
		Recovered: r.Recovered,
		Error:     errorFromPB(r.Error),
		More:      r.More,
	}
	if len(r.Publications) > 0 {
		out.Publications = publicationsFromPB(r.Publications)
	}
	return out
}

func connectResultToPB(r *ConnectResult) *pb.ConnectResult {
	m := &pb.ConnectResult{Client: r.Client, User: r.User, Ping: uint32(r.Ping), Expires: r.Expires, Session: r.Session}
	if len(r.Subs) > 0 {
		m.Subs = make(map[string]*pb.SubscribeResult, len(r.Subs))
		for ch, s := range r.Subs {
			m.Subs[ch] = subscribeResultToPB(s)
		}
	}
	if r.Inbox != nil {
		m.Inbox = &pb.InboxResult{
			Offset:       r.Inbox.Offset,
			Epoch:        r.Inbox.Epoch,
			Recovered:    r.Inbox.Recovered,
			Publications: publicationsToPB(r.Inbox.Publications),
			More:         r.Inbox.More,
		}
	}
	return m
}

func connectResultFromPB(m *pb.ConnectResult) *ConnectResult {
	r := &ConnectResult{Client: m.Client, User: m.User, Ping: int(m.Ping), Expires: m.Expires, Session: m.Session}
	if len(m.Subs) > 0 {
		r.Subs = make(map[string]*SubscribeResult, len(m.Subs))
		for ch, s := range m.Subs {
			r.Subs[ch] = subscribeResultFromPB(s)
		}
	}
	if m.Inbox != nil {
		r.Inbox = &InboxResult{
			Offset:       m.Inbox.Offset,
			Epoch:        m.Inbox.Epoch,
			Recovered:    m.Inbox.Recovered,
			Publications: publicationsFromPB(m.Inbox.Publications),
			More:         m.Inbox.More,
		}
	}
	return r
}

// resultValueFromPB returns a reply's result.
func resultValueFromPB(m *pb.ServerMessage) (Result, error) {
	switch r := m.Result.(type) {
	case *pb.ServerMessage_Connect:
		return connectResultFromPB(r.Connect), nil
	case *pb.ServerMessage_Subscribe:
		return subscribeResultFromPB(r.Subscribe), nil
	case *pb.ServerMessage_Unsubscribe:
		return &EmptyResult{}, nil
	case *pb.ServerMessage_Publish:
		return &PublishResult{Offset: r.Publish.Offset, Epoch: r.Publish.Epoch}, nil
	case *pb.ServerMessage_Send:
		return &PublishResult{Offset: r.Send.Offset, Epoch: r.Send.Epoch}, nil
	case *pb.ServerMessage_Presence:
		clients := make(map[string]PresenceEntry, len(r.Presence.Clients))
		for id, e := range r.Presence.Clients {
			clients[id] = PresenceEntry{User: e.User, Info: json.RawMessage(e.Info)}
		}
		return &PresenceResult{Clients: clients}, nil
	case *pb.ServerMessage_PresenceStats:
		return &PresenceStatsResult{Clients: int(r.PresenceStats.Clients), Users: int(r.PresenceStats.Users)}, nil
	case *pb.ServerMessage_History:
		return &HistoryResult{
			Publications: publicationsFromPB(r.History.Publications),
			Offset:       r.History.Offset,
			Epoch:        r.History.Epoch,
		}, nil
	case *pb.ServerMessage_Refresh:
		return &RefreshResult{Expires: r.Refresh.Expires}, nil
	}
	return nil, fmt.Errorf("protocol: reply %d has no result", m.Id)
}

// resultFromPB stores a reply's result in out, which must point to the
// matching result type.
func resultFromPB(m *pb.ServerMessage, out Result) error {
	v, err := resultValueFromPB(m)
	if err != nil {
		return err
	}
	dst, src := reflect.ValueOf(out), reflect.ValueOf(v)
	if dst.Kind() != reflect.Pointer || dst.IsNil() || dst.Type() != src.Type() {
		return fmt.Errorf("protocol: reply %d holds a %T, not a %T", m.Id, v, out)
	}
	dst.Elem().Set(src.Elem())
	return nil
}

func subscribedToPB(channel string, r *SubscribeResult) *pb.ServerMessage {
	return &pb.ServerMessage{
		Type:         PushSubscribed,
		Channel:      channel,
		Offset:       r.Offset,
		Epoch:        r.Epoch,
		Recovered:    r.Recovered,
		Publications: publicationsToPB(r.Publications),
	}
}

func unsubscribedToPB(channel string, code int, reason string) *pb.ServerMessage {
	return &pb.ServerMessage{Type: PushUnsubscribed, Channel: channel, Code: uint32(code), Reason: reason}
}

func refreshNeededToPB(expires int64) *pb.ServerMessage {
	return &pb.ServerMessage{Type: PushRefreshNeeded, Expires: expires}
}

func disconnectToPB(d Disconnect) *pb.ServerMessage {
	return &pb.ServerMessage{Type: PushDisconnect, Code: uint32(d.Code), Reason: d.Reason, Reconnect: d.Reconnect}
}

func serverMessageFromPB(m *pb.ServerMessage) *ServerMessage {
	out := &ServerMessage{
		ID:        m.Id,
		Error:     errorFromPB(m.Error),
		Type:      m.Type,
		Channel:   m.Channel,
		Offset:    m.Offset,
		Data:      m.Data,
		Info:      clientInfoFromPB(m.Info),
		Time:      m.Ts,
		Epoch:     m.Epoch,
		Recovered: m.Recovered,
		Code:      int(m.Code),
		Reason:    m.Reason,
		Reconnect: m.Reconnect,
		Expires:   m.Expires,
	}
	if m.From != nil {
		out.From = ClientInfo{User: m.From.User, Client: m.From.Client}
	}
	if len(m.Publications) > 0 {
		out.Publications = publicationsFromPB(m.Publications)
	}
	if m.Result != nil {
		out.pbResult = m
	}
	return out
}
