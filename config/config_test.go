package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/hub"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultFileLoadsToDefaults(t *testing.T) {
	cfg, err := Load(write(t, string(DefaultFile())), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("default file differs from Default():\n%+v\n%+v", cfg, want)
	}
	if _, ok := cfg.Namespaces["chat"]; !ok {
		t.Fatal("default namespace chat missing")
	}
}

// TestDefaultFileSetsEveryKey: the file that is the defaults names every
// key of the schema, so that "every key shows its default" holds and no
// default is a Go zero value by accident.
func TestDefaultFileSetsEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(DefaultFile(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node, typ reflect.Type, path string)
	walk = func(n *yaml.Node, typ reflect.Type, path string) {
		for _, f := range reflect.VisibleFields(typ) {
			key := tagKey(f)
			if key == "" {
				continue
			}
			var v *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					v = n.Content[i+1]
				}
			}
			if v == nil {
				t.Errorf("default.yaml lacks %s", joinKey(path, key))
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(v, f.Type, joinKey(path, key))
			}
		}
	}
	walk(doc.Content[0], reflect.TypeFor[Config](), "")
}

// TestNoFileIsTheInitFile: a server without a file and one with the file
// `config init` writes get the same configuration, in development mode
// too, and with the environment applied on top.
func TestNoFileIsTheInitFile(t *testing.T) {
	file := write(t, string(DefaultFile()))
	for _, env := range [][]string{
		{"HERALD_TOKEN_HMAC_SECRET=0123456789abcdef0123456789abcdef", "HERALD_API_KEYS=0123456789abcdef"},
		{"HERALD_DEV=true"},
	} {
		none, err := Load("", env)
		if err != nil {
			t.Fatal(err)
		}
		init, err := Load(file, env)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*Config{&none, &init} {
			c.ApplyDev()
			if err := c.Validate(); err != nil {
				t.Fatalf("%v: %v", env, err)
			}
		}
		if !reflect.DeepEqual(none, init) {
			t.Fatalf("%v: no file and the init file differ:\n%+v\n%+v", env, none, init)
		}
	}
}

// TestDefaultNamespaces: without a file, authenticated users may subscribe
// to the default namespace and to chat, which keeps history; anonymous
// connections, off by default, may not.
func TestDefaultNamespaces(t *testing.T) {
	cfg := Default()
	if len(cfg.Namespaces) != 2 {
		t.Fatalf("namespaces %v", cfg.Namespaces)
	}
	for _, name := range []string{"", "chat"} {
		ns := cfg.Namespaces[name]
		if ns.AllowSubscribe != hub.SubscribeAuthenticated || ns.AllowPublish != hub.AccessSubscribers {
			t.Errorf("%q: %+v", name, ns)
		}
	}
	if chat := cfg.Namespaces["chat"].Options(); !chat.KeepsHistory() || !chat.Recover || !chat.Presence {
		t.Errorf("chat %+v", chat)
	}
}

// TestNamespacesSectionReplacesDefaults: a file's namespaces are all the
// namespaces there are; a file without the section keeps the defaults.
func TestNamespacesSectionReplacesDefaults(t *testing.T) {
	cfg, err := Load(write(t, "namespaces:\n  news:\n    history_size: 5\n    history_ttl: 1m\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Namespaces) != 1 || cfg.Namespaces["news"].AllowPublish != hub.AccessSubscribers {
		t.Fatalf("namespaces %+v", cfg.Namespaces)
	}
	cfg, err = Load(write(t, "address: :9000\n"), nil)
	if err != nil || !reflect.DeepEqual(cfg.Namespaces, Default().Namespaces) {
		t.Fatalf("%v %+v", err, cfg.Namespaces)
	}
	cfg, err = Load(write(t, "namespaces: {}\n"), nil)
	if err != nil || len(cfg.Namespaces) != 0 || cfg.Namespaces == nil {
		t.Fatalf("%v %#v", err, cfg.Namespaces)
	}
}

// TestApplyDev: development mode listens on loopback unless the address
// was changed, and opens every namespace unless the file changed them.
func TestApplyDev(t *testing.T) {
	dev := Default()
	dev.Dev = true
	dev.ApplyDev()
	if dev.Address != "127.0.0.1:8000" || len(dev.Namespaces) != 0 || !dev.Anonymous || !dev.Demo.Enabled {
		t.Fatalf("dev %+v", dev)
	}
	custom := Default()
	custom.Dev, custom.Address = true, "0.0.0.0:9000"
	custom.Namespaces = map[string]Namespace{"chat": {AllowSubscribe: hub.SubscribeToken}}
	custom.ApplyDev()
	if custom.Address != "0.0.0.0:9000" || len(custom.Namespaces) != 1 {
		t.Fatalf("dev with a file's choices %+v", custom)
	}
	off := Default()
	off.ApplyDev()
	if !reflect.DeepEqual(off, Default()) {
		t.Fatal("ApplyDev changed a configuration without dev")
	}
}

func TestDefaultFileNeedsASecret(t *testing.T) {
	p := write(t, string(DefaultFile()))
	cfg, _ := Load(p, nil)
	var ce *Error
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "token" {
		t.Fatalf("Validate: %v, want token", err)
	}
	cfg, _ = Load(p, []string{"HERALD_TOKEN_HMAC_SECRET=0123456789abcdef0123456789abcdef"})
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with a secret: %v", err)
	}
}

func TestYAMLOverlay(t *testing.T) {
	cfg, err := Load(write(t, "address: 127.0.0.1:9000\nlimits:\n  max_message_size: 1024\nnamespaces:\n  news:\n    history_size: 5\n    history_ttl: 1m\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Address != "127.0.0.1:9000" || cfg.Limits.MaxMessageSize != 1024 || cfg.Limits.MaxConnections != 100000 {
		t.Fatalf("overlay %+v", cfg)
	}
	if ns := cfg.Namespaces["news"]; ns.HistorySize != 5 || ns.HistoryTTL != time.Minute {
		t.Fatalf("namespace %+v", ns)
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := Load(write(t, "limits:\n  max_mesage_size: 5\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "max_mesage_size") {
		t.Fatalf("err %v", err)
	}
}

// TestFileMistakesNameFileLineAndKey: a typo or a value of the wrong type
// is reported with the file, the line, the key's path and what was meant,
// never with a Go type.
func TestFileMistakesNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"adress: \":8000\"\n", ":1: adress: unknown key (did you mean address?)"},
		{"dev: false\nlimits:\n  max_mesage_size: 5\n", ":3: limits.max_mesage_size: unknown key (did you mean max_message_size?)"},
		{"max_message_size: 5\n", ":1: max_message_size: unknown key here (did you mean limits.max_message_size?)"},
		{"namespaces:\n  chat:\n    presense: true\n", ":3: namespaces.chat.presense: unknown key (did you mean presence?)"},
		{"broker:\n  redis:\n    adrs: [a:1]\n", ":3: broker.redis.adrs: unknown key (did you mean addrs?)"},
		{"tokne:\n  hmac_secret: x\n", ":1: tokne: unknown key (did you mean token?)"},
		{"zzzzzzzz: 1\n", ":1: zzzzzzzz: unknown key (valid here: address,"},
		{"ping_interval: 25\n", ":1: ping_interval: 25 has no unit: write 25s, or 0"},
		{"ping_interval: soon\n", ":1: ping_interval: not a duration"},
		{"limits:\n  max_connections: many\n", ":2: limits.max_connections: not an integer: \"many\""},
		{"limits:\n  command_rate: fast\n", ":2: limits.command_rate: not a number"},
		{"dev: yes please\n", ":1: dev: not true or false"},
		{"api_keys: abc\n", ":1: api_keys: a list expected"},
		{"limits: 5\n", ":1: limits: a section of keys expected"},
		{"namespaces:\n  - chat\n", ":2: namespaces: a section of names expected"},
		{"address: [a, b]\n", ":1: address: a single value expected"},
		{"address: \"x\n", "herald.yaml: "},
	} {
		path := write(t, tc.body)
		_, err := Load(path, nil)
		var ce *Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.body, err, tc.want)
			continue
		}
		if goType.MatchString(err.Error()) {
			t.Errorf("%q: %v names a Go type", tc.body, err)
		}
	}
}

var goType = regexp.MustCompile(`\b(u?int\d*|float\d+|string|bool|struct|time\.Duration)\b|config\.|hub\.|!!`)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"adress", "address", 1}, {"adderss", "address", 1}, {"", "abc", 3}, {"same", "same", 0}, {"kitten", "sitting", 3}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("%s/%s: %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	cfg, err := Load(write(t, ""), nil)
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("%v %+v", err, cfg)
	}
}

func TestEnvOverlay(t *testing.T) {
	cfg, err := Load("", []string{
		"HERALD_ADDRESS=:9100",
		"HERALD_DEV=true",
		"HERALD_LIMITS_MAX_MESSAGE_SIZE=2048",
		"HERALD_LIMITS_COMMAND_RATE=2.5",
		"HERALD_PING_INTERVAL=5s",
		"HERALD_API_KEYS=aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb",
		"HERALD_LOG_LEVEL=debug",
		"OTHER=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Address != ":9100" || !cfg.Dev || cfg.Limits.MaxMessageSize != 2048 || cfg.Limits.CommandRate != 2.5 ||
		cfg.PingInterval != 5*time.Second || len(cfg.APIKeys) != 2 || cfg.APIKeys[1] != "bbbbbbbbbbbbbbbb" || cfg.Log.Level != "debug" {
		t.Fatalf("env overlay %+v", cfg)
	}
}

func TestBadEnvNamesTheVariable(t *testing.T) {
	for _, kv := range []string{"HERALD_PING_INTERVAL=soon", "HERALD_DEV=maybe", "HERALD_LIMITS_MAX_CONNECTIONS=many", "HERALD_LIMITS_COMMAND_RATE=fast"} {
		_, err := Load("", []string{kv})
		name, _, _ := strings.Cut(kv, "=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", kv, err)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.Token.HMACSecret = "0123456789abcdef0123456789abcdef"
		return c
	}
	cases := []struct {
		key    string
		mutate func(*Config)
	}{
		{"address", func(c *Config) { c.Address = "nonsense" }},
		{"log.level", func(c *Config) { c.Log.Level = "loud" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
		{"token", func(c *Config) { c.Token.HMACSecret = "" }},
		{"token.hmac_secret", func(c *Config) { c.Token.HMACSecret = "0123456789abcdef" }},
		{"token.algorithms[0]", func(c *Config) { c.Token.Algorithms = []string{"none"} }},
		{"token.hmac_secret", func(c *Config) {
			c.Token.HMACSecret = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
		}},
		{"token.algorithms[1]", func(c *Config) {
			c.Token.HMACSecret, c.Token.PublicKeyFile = "", "key.pem"
			c.Token.Algorithms = []string{"EdDSA", "HS256"}
		}},
		{"token.algorithms[0]", func(c *Config) { c.Token.Algorithms = []string{"RS256"} }},
		{"token.jwks_url", func(c *Config) { c.Token.JWKSURL = "http://auth.example.com/jwks.json" }},
		{"token.jwks_url", func(c *Config) { c.Token.JWKSURL = "ftp://keys.example" }},
		{"token.refresh_notice", func(c *Config) { c.Token.RefreshNotice = 0 }},
		{"proxy.connect_url", func(c *Config) { c.Proxy.ConnectURL = "not a url" }},
		{"proxy.timeout", func(c *Config) { c.Proxy.Timeout = 0 }},
		{"tls", func(c *Config) { c.TLS.CertFile = "cert.pem" }},
		{"tls.client_auth", func(c *Config) { c.TLS.ClientAuth = "maybe" }},
		{"tls.client_ca_file", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientAuth = "c", "k", "require" }},
		{"tls.client_cert_user", func(c *Config) { c.TLS.ClientCertUser = true }},
		{"tcp.tls", func(c *Config) { c.RawTCP.UseTLS = true }},
		{"tcp.tls", func(c *Config) { c.RawTCP.Address, c.RawTCP.UseTLS = ":8001", true }},
		{"tcp.address", func(c *Config) { c.RawTCP.Address = "8001" }},
		{"tcp.address", func(c *Config) { c.RawTCP.Address = c.Address }},
		{"api_allowed_nets[0]", func(c *Config) { c.APIAllowedNets = []string{"10.0.0.0/33"} }},
		{"limits.publish_rate", func(c *Config) { c.Limits.PublishRate = 0 }},
		{"limits.max_connections_per_user", func(c *Config) { c.Limits.MaxConnectionsPerUser = -2 }},
		{"limits.max_frame_commands", func(c *Config) { c.Limits.MaxFrameCommands = 0 }},
		{"limits.max_data_depth", func(c *Config) { c.Limits.MaxDataDepth = 1001 }},
		{"limits.join_leave_rate", func(c *Config) { c.Limits.JoinLeaveRate = 0 }},
		{"limits.join_leave_burst", func(c *Config) { c.Limits.JoinLeaveBurst = 0 }},
		{"namespaces.chat.subscribe_proxy", func(c *Config) { c.Namespaces = map[string]Namespace{"chat": {SubscribeProxy: true}} }},
		{"api_keys[1]", func(c *Config) { c.APIKeys = []string{"0123456789abcdef", "short"} }},
		{"ping_interval", func(c *Config) { c.PingInterval = 0 }},
		{"compression.threshold", func(c *Config) { c.Compression.Threshold = -1 }},
		{"limits.max_message_size", func(c *Config) { c.Limits.MaxMessageSize = -1 }},
		{"limits.api_body_size", func(c *Config) { c.Limits.APIBodySize = 0 }},
		{"limits.request_body_timeout", func(c *Config) { c.Limits.RequestBodyTimeout = 0 }},
		{"limits.max_http_connections", func(c *Config) { c.Limits.MaxHTTPConnections = -1 }},
		{"limits.max_http_connections_per_ip", func(c *Config) { c.Limits.MaxHTTPConnectionsPerIP = 0 }},
		{"limits.command_rate", func(c *Config) { c.Limits.CommandRate = 0 }},
		{"limits.write_queue_bytes", func(c *Config) { c.Limits.WriteQueueBytes = 100 }},
		{"broker.engine", func(c *Config) { c.Broker.Engine = "kafka" }},
		{"broker.redis.addrs", func(c *Config) { c.Broker.Engine = "redis"; c.Broker.Redis.Addrs = nil }},
		{"broker.redis.addrs[1]", func(c *Config) {
			c.Broker.Engine = "redis"
			c.Broker.Redis.Addrs = []string{"a:1", "nonsense"}
		}},
		{"broker.nats.replicas", func(c *Config) { c.Broker.Engine = "nats"; c.Broker.NATS.Replicas = 0 }},
		{"broker.nats.url", func(c *Config) { c.Broker.Engine = "nats"; c.Broker.NATS.URL = "" }},
		{"broker.nats.embedded.peers[0]", func(c *Config) {
			c.Broker.Engine = "nats"
			c.Broker.NATS.Embedded.Enabled = true
			c.Broker.NATS.Embedded.Peers = []string{"nonsense"}
		}},
		{"inbox.size", func(c *Config) { c.Inbox.Size = -1 }},
		{"inbox.ttl", func(c *Config) { c.Inbox.TTL = 0 }},
		{"inbox.max_new_recipients", func(c *Config) { c.Inbox.MaxNewRecipients = 0 }},
		{"inbox.new_recipients_interval", func(c *Config) { c.Inbox.NewRecipientsInterval = 0 }},
		{"inbox.max_per_sender", func(c *Config) { c.Inbox.MaxPerSender = -2 }},
		{"limits.max_new_channels", func(c *Config) { c.Limits.MaxNewChannels = -2 }},
		{"limits.new_channels_interval", func(c *Config) { c.Limits.NewChannelsInterval = -time.Hour }},
		{"broker.memory.max_retained_bytes", func(c *Config) { c.Broker.Memory.MaxRetainedBytes = 0 }},
		{"broker.memory.max_streams", func(c *Config) { c.Broker.Memory.MaxStreams = -5 }},
		{"namespaces.bad name", func(c *Config) { c.Namespaces["bad name"] = Namespace{} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = Namespace{AllowPublish: "everyone"} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = Namespace{JoinLeave: true} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = Namespace{HistorySize: 5} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = Namespace{Recover: true} }},
	}
	for _, tc := range cases {
		c := valid()
		tc.mutate(&c)
		var ce *Error
		if err := c.Validate(); !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("want a problem with %s, got %v", tc.key, err)
		}
	}
	c := valid()
	c.Namespaces[""] = Namespace{}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if c.Namespaces[""].AllowPublish != hub.AccessSubscribers {
		t.Fatalf("Validate did not normalize namespaces: %+v", c.Namespaces[""])
	}
	dev := Default()
	dev.Dev = true
	dev.ApplyDev()
	if err := dev.Validate(); err != nil || !dev.Anonymous || !dev.EchoEndpoint || dev.AllowedOrigins[0] != "*" {
		t.Fatalf("dev: %v %+v", err, dev)
	}
}

// TestValidateAuthAlternatives: a configuration without token keys is
// valid when connections authenticate another way, and limits that may be
// turned off accept -1.
func TestValidateAuthAlternatives(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"anonymous":     func(c *Config) { c.Anonymous = true },
		"connect proxy": func(c *Config) { c.Proxy.ConnectURL = "http://127.0.0.1:3000/herald/connect" },
		"client cert user": func(c *Config) {
			c.TLS = TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca", ClientAuth: "require", ClientCertUser: true}
		},
		"public key": func(c *Config) { c.Token.PublicKeyFile = "key.pem" },
		"jwks":       func(c *Config) { c.Token.JWKSURL = "https://auth.example.com/.well-known/jwks.json" },
		"jwks on loopback": func(c *Config) {
			c.Token.JWKSURL, c.Token.Algorithms = "http://127.0.0.1:9000/jwks.json", []string{"RS256", "ES256"}
		},
		"pinned HS with a secret": func(c *Config) {
			c.Token.HMACSecret, c.Token.Algorithms = "0123456789abcdef0123456789abcdef", []string{"HS256", "HS512"}
		},
		"limits off": func(c *Config) {
			c.Anonymous = true
			c.Limits.MaxConnectionsPerUser, c.Limits.ConnectRatePerIP, c.Limits.PublishRate = -1, -1, -1
			c.Limits.ReadRate, c.Limits.MaxPresenceMembers, c.Limits.JoinLeaveRate = -1, -1, -1
			c.APIAllowedNets = []string{"10.0.0.0/8", "192.168.1.7", "::1"}
		},
	} {
		c := Default()
		mutate(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestWarnings: configurations that leave clients nothing to subscribe to
// are named; the defaults with a token key, and development mode, are not.
func TestWarnings(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults with a secret", func(c *Config) { c.Token.HMACSecret = secret }, ""},
		{"dev", func(c *Config) { c.Dev = true; c.ApplyDev() }, ""},
		{"no namespaces", func(c *Config) { c.Token.HMACSecret = secret; c.Namespaces = map[string]Namespace{} }, "no namespaces are configured"},
		{"anonymous only, authenticated namespaces", func(c *Config) { c.Anonymous = true }, "connections can only be anonymous"},
		{"anonymous and users", func(c *Config) { c.Anonymous = true; c.Token.HMACSecret = secret }, "anonymous connections are allowed but no namespace"},
		{"anonymous with an open namespace", func(c *Config) {
			c.Anonymous = true
			c.Namespaces[""] = Namespace{AllowSubscribe: hub.SubscribeAny}
		}, ""},
		{"token namespaces without keys", func(c *Config) {
			c.Proxy.ConnectURL = "http://127.0.0.1:3000/connect"
			c.Namespaces = map[string]Namespace{"x": {AllowSubscribe: hub.SubscribeToken}}
		}, "no namespace lets any client subscribe"},
		{"demo without its namespace", func(c *Config) {
			c.Token.HMACSecret, c.Demo.Enabled, c.Demo.Namespace = secret, true, "rooms"
		}, `the demo's rooms are in namespace "rooms"`},
	} {
		c := Default()
		tc.mutate(&c)
		got := strings.Join(c.Warnings(), "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: warnings %q, want %q", tc.name, got, tc.want)
		}
	}
}
