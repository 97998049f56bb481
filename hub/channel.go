package hub

import (
	"slices"
	"strings"

	"github.com/heraldhq/herald/protocol"
)

// ValidChannel reports whether name follows the naming rules: 1–255 bytes of
// printable ASCII without spaces.
func ValidChannel(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return false
		}
	}
	return true
}

// allowedUsers returns the users a "...#u1,u2" channel is limited to, and
// whether the channel is limited at all.
func allowedUsers(channel string) ([]string, bool) {
	i := strings.LastIndexByte(channel, '#')
	if i < 0 {
		return nil, false
	}
	return strings.Split(channel[i+1:], ","), true
}

// userAllowed reports whether user may use a channel limited by "#".
func userAllowed(channel, user string) bool {
	users, limited := allowedUsers(channel)
	if !limited {
		return true
	}
	return user != "" && slices.Contains(users, user)
}

// namespace returns the options for a channel, checking its name. They are
// shared by every subscription to the namespace: read-only.
func (h *Hub) namespace(channel string) (*Namespace, error) {
	if !ValidChannel(channel) {
		return nil, protocol.NewError(protocol.CodeBadRequest, "invalid channel name")
	}
	if ns, ok := h.namespaces[NamespaceOf(channel)]; ok {
		return ns, nil
	}
	if h.cfg.OpenNamespaces {
		return h.openNamespace, nil
	}
	return nil, protocol.ErrUnknownNamespace
}

// allows reports whether a client with the given user and subscription state
// passes an access mode.
func allows(mode AccessMode, user string, subscribed bool) bool {
	switch mode {
	case AccessAny:
		return true
	case AccessAuthenticated:
		return user != ""
	case AccessSubscribers:
		return subscribed
	}
	return false
}
