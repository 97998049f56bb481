package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Load builds a configuration: the defaults, then the YAML file at path
// (skipped when path is ""), then HERALD_* variables from env (as
// os.Environ returns them). A file's mistakes are *Error values naming the
// file, the line and the key: unknown keys (with the nearest valid one),
// values of the wrong type. Namespaces can only be set in the file, and a
// namespaces section there replaces the built-in ones as a whole.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, err
		}
		if err := decodeFile(&cfg, path, data); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// DevAddress is where development mode listens unless told otherwise:
// loopback only, since it hands a token to any name and accepts any origin.
const DevAddress = "127.0.0.1:8000"

// ApplyDev turns on what development mode implies: anonymous connections,
// any origin, the echo endpoint and the demo; the loopback address
// DevAddress when the address is the default; and every namespace open
// when the namespaces are the built-in ones (namespaces a file changes
// keep their options, and the others are open). The caller applies an
// --address flag after it, and generates a token secret and an API key
// when they are missing, because it must tell the user the key.
func (c *Config) ApplyDev() {
	if !c.Dev {
		return
	}
	def := Default()
	if c.Address == def.Address {
		c.Address = DevAddress
	}
	if reflect.DeepEqual(c.Namespaces, def.Namespaces) {
		c.Namespaces = map[string]Namespace{}
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
