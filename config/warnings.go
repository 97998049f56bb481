package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/heraldhq/herald/hub"
)

// Warnings returns what the configuration allows but most likely does not
// mean, one sentence each, for the server to log at startup: no channel
// any client may subscribe to, anonymous connections that may subscribe
// to nothing, a demo whose rooms are in no namespace. Development mode
// opens every namespace, so it has none of these.
func (c *Config) Warnings() []string {
	if c.Dev {
		return nil
	}
	var out []string
	// Who can connect: users (a token, the connect proxy or a client
	// certificate names them) and, when allowed, anonymous connections.
	users := c.Token.Configured() || c.Proxy.ConnectURL != "" || c.TLS.ClientCertUser
	channelTokens := c.Token.Configured()
	names := slices.Sorted(maps.Keys(c.Namespaces))
	open, anonOpen := false, false
	for _, name := range names {
		switch c.Namespaces[name].AllowSubscribe {
		case hub.SubscribeAny, "":
			open = open || users || c.Anonymous
			anonOpen = anonOpen || c.Anonymous
		case hub.SubscribeAuthenticated:
			open = open || users
		case hub.SubscribeToken:
			open = open || channelTokens
		}
	}
	switch {
	case len(names) == 0:
		out = append(out, "no namespaces are configured: every subscribe and publish is refused with error 102 (unknown namespace); "+
			"add some under namespaces (herald config init shows the defaults)")
	case !open && c.Anonymous && !users:
		out = append(out, "connections can only be anonymous (no token key, proxy.connect_url or tls.client_cert_user) "+
			"but no namespace lets them subscribe: give one allow_subscribe: any")
	case !open:
		out = append(out, "no namespace lets any client subscribe: "+
			"check allow_subscribe of the namespaces against how clients connect (token, anonymous, proxy.connect_url, tls.client_cert_user)")
	case c.Anonymous && !anonOpen:
		out = append(out, "anonymous connections are allowed but no namespace lets them subscribe: "+
			"give a namespace allow_subscribe: any for them")
	}
	if c.Demo.Enabled {
		if _, ok := c.Namespaces[c.Demo.Namespace]; !ok {
			out = append(out, fmt.Sprintf("the demo's rooms are in namespace %q, which is not configured: "+
				"the demo cannot join them (error 102); add it under namespaces or set demo.namespace", c.Demo.Namespace))
		}
	}
	return out
}
