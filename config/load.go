package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldhq/herald/hub"
)

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Address:        ":8000",
		Token:          Token{Algorithms: []string{}, RefreshNotice: time.Minute},
		Proxy:          Proxy{Timeout: 3 * time.Second, ForwardHeaders: []string{"Cookie", "Authorization"}},
		TLS:            TLS{ClientAuth: "none"},
		APIKeys:        []string{},
		APIAllowedNets: []string{},
		AllowedOrigins: []string{},
		Log:            Log{Level: "info", Format: "text"},
		Metrics:        Metrics{Enabled: true},
		Demo:           Demo{Namespace: "chat"},
		Broker: Broker{
			Engine: "memory",
			Memory: MemoryBroker{MaxRetainedBytes: 1 << 30, MaxStreams: 1_000_000},
			Redis:  RedisBroker{Addrs: []string{"127.0.0.1:6379"}, Prefix: "herald"},
			NATS: NATSBroker{
				URL:      "nats://127.0.0.1:4222",
				Prefix:   "herald",
				Replicas: 1,
				Embedded: EmbeddedNATS{
					Listen:        "127.0.0.1:4222",
					ClusterListen: ":6222",
					Peers:         []string{},
					ClusterName:   "herald",
					Dir:           "herald-data/nats",
				},
			},
		},
		PingInterval:    25 * time.Second,
		PongTimeout:     10 * time.Second,
		ConnectTimeout:  10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		PresenceTTL:     60 * time.Second,
		IdempotencyTTL:  5 * time.Minute,
		Inbox:           Inbox{Size: 100, TTL: 24 * time.Hour, MaxNewRecipients: 100, NewRecipientsInterval: time.Hour},
		Limits: Limits{
			MaxMessageSize:           65536,
			MaxConnections:           100000,
			MaxConnectionsPerIP:      1000,
			MaxConnectionsPerUser:    100,
			ConnectRatePerIP:         20,
			ConnectBurstPerIP:        50,
			MaxHTTPConnections:       2048,
			MaxHTTPConnectionsPerIP:  128,
			MaxChannelsPerConnection: 128,
			CommandRate:              100,
			CommandBurst:             200,
			PublishRate:              50,
			PublishBurst:             200,
			ReadRate:                 20,
			ReadBurst:                50,
			RateLimitStrikes:         50,
			MaxFrameCommands:         100,
			MaxDataDepth:             64,
			MaxPresenceMembers:       1000,
			WriteQueueMessages:       4096,
			WriteQueueBytes:          4 << 20,
			APIBodySize:              1 << 20,
			ReadHeaderTimeout:        5 * time.Second,
			RequestBodyTimeout:       10 * time.Second,
			HandshakeTimeout:         10 * time.Second,
			WriteTimeout:             10 * time.Second,
			MaxOutgoingBytes:         64 << 20,
			MaxConcurrentCatchups:    16,
			MaxNewChannels:           1000,
			NewChannelsInterval:      time.Hour,
			JoinLeaveRate:            10,
			JoinLeaveBurst:           50,
		},
		Namespaces: map[string]hub.Namespace{},
	}
}

// Load builds a configuration: the defaults, then the YAML file at path
// (skipped when path is ""), then HERALD_* variables from env (as
// os.Environ returns them). Unknown keys in the file are errors. Namespaces
// can only be set in the file.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// io.EOF: an empty file means all defaults.
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
		if cfg.Namespaces == nil {
			cfg.Namespaces = map[string]hub.Namespace{}
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// ApplyDev turns on what development mode implies. The caller generates a
// token secret and an API key when they are missing, because it must tell
// the user the key.
func (c *Config) ApplyDev() {
	if !c.Dev {
		return
	}
	c.Anonymous = true
	c.AllowedOrigins = []string{"*"}
	c.EchoEndpoint = true
	c.Demo.Enabled = true
}

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "HERALD_"

// applyEnv overrides fields from HERALD_<PATH> variables, where PATH is the
// field's YAML key path upper-cased and joined by "_".
func applyEnv(cfg *Config, env []string) error {
	vars := make(map[string]string)
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	return walkEnv(reflect.ValueOf(cfg).Elem(), strings.TrimSuffix(EnvPrefix, "_"), vars)
}

var durationType = reflect.TypeFor[time.Duration]()

func walkEnv(v reflect.Value, prefix string, vars map[string]string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(key)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := walkEnv(fv, name, vars); err != nil {
				return err
			}
			continue
		}
		raw, ok := vars[name]
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func setFromString(v reflect.Value, raw string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("not a duration (like 10s or 5m): %q", raw)
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", raw)
		}
		v.SetBool(b)
	case v.Kind() >= reflect.Int && v.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", raw)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", raw)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var list []string
		for part := range strings.SplitSeq(raw, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
