package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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
	if _, ok := cfg.Namespaces["chat"]; !ok {
		t.Fatal("example namespace missing")
	}
	cfg.Namespaces = Default().Namespaces
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("default file differs from Default():\n%+v\n%+v", cfg, want)
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
		{"token.jwks_url", func(c *Config) { c.Token.JWKSURL = "ftp://keys.example" }},
		{"token.refresh_notice", func(c *Config) { c.Token.RefreshNotice = 0 }},
		{"proxy.connect_url", func(c *Config) { c.Proxy.ConnectURL = "not a url" }},
		{"proxy.timeout", func(c *Config) { c.Proxy.Timeout = 0 }},
		{"tls", func(c *Config) { c.TLS.CertFile = "cert.pem" }},
		{"tls.client_auth", func(c *Config) { c.TLS.ClientAuth = "maybe" }},
		{"tls.client_ca_file", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile, c.TLS.ClientAuth = "c", "k", "require" }},
		{"tls.client_cert_user", func(c *Config) { c.TLS.ClientCertUser = true }},
		{"api_allowed_nets[0]", func(c *Config) { c.APIAllowedNets = []string{"10.0.0.0/33"} }},
		{"limits.publish_rate", func(c *Config) { c.Limits.PublishRate = 0 }},
		{"limits.max_connections_per_user", func(c *Config) { c.Limits.MaxConnectionsPerUser = -2 }},
		{"limits.max_frame_commands", func(c *Config) { c.Limits.MaxFrameCommands = 0 }},
		{"limits.max_data_depth", func(c *Config) { c.Limits.MaxDataDepth = 1001 }},
		{"limits.join_leave_rate", func(c *Config) { c.Limits.JoinLeaveRate = 0 }},
		{"limits.join_leave_burst", func(c *Config) { c.Limits.JoinLeaveBurst = 0 }},
		{"namespaces.chat.subscribe_proxy", func(c *Config) { c.Namespaces = map[string]hub.Namespace{"chat": {SubscribeProxy: true}} }},
		{"api_keys[1]", func(c *Config) { c.APIKeys = []string{"0123456789abcdef", "short"} }},
		{"ping_interval", func(c *Config) { c.PingInterval = 0 }},
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
		{"namespaces.bad name", func(c *Config) { c.Namespaces["bad name"] = hub.Namespace{} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = hub.Namespace{AllowPublish: "everyone"} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = hub.Namespace{JoinLeave: true} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = hub.Namespace{HistorySize: 5} }},
		{"namespaces.chat", func(c *Config) { c.Namespaces["chat"] = hub.Namespace{Recover: true} }},
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
	c.Namespaces[""] = hub.Namespace{}
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
