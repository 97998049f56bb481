package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiFlags are the server API's address and key, from flags or environment.
type apiFlags struct {
	url, key string
}

func (a *apiFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.url, "api-url", "", "server address (default $HERALD_API_URL or http://localhost:8000)")
	cmd.Flags().StringVar(&a.key, "api-key", "", "API key (default $HERALD_API_KEY)")
}

// call posts body to /api/method and returns the result. A transport
// failure or a method error is an error; the result is printed by callers.
func (a *apiFlags) call(method string, body []byte) (json.RawMessage, error) {
	base := a.url
	if base == "" {
		base = os.Getenv("HERALD_API_URL")
	}
	if base == "" {
		base = "http://localhost:8000"
	}
	key := a.key
	if key == "" {
		key = os.Getenv("HERALD_API_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: pass --api-key or set HERALD_API_KEY")
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "apikey "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("bad answer from server: %v", err)
	}
	if out.Error != nil {
		return nil, fmt.Errorf("%s (%d)", out.Error.Message, out.Error.Code)
	}
	return out.Result, nil
}

func apiCommand() *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   "api METHOD [JSON|-]",
		Short: "Call a server API method and print its result",
		Long: `Call a server API method (publish, broadcast, send, subscribe, unsubscribe,
disconnect, presence, presence_stats, history, history_remove, channels, info)
with a JSON body given as an argument, or read from stdin with "-".`,
		Example: `  herald api info
  herald api presence '{"channel":"chat:lobby"}'
  echo '{"user":"alice"}' | herald api disconnect -`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := []byte("{}")
			if len(args) == 2 {
				body = []byte(args[1])
				if args[1] == "-" {
					var err error
					if body, err = io.ReadAll(cmd.InOrStdin()); err != nil {
						return err
					}
				}
			}
			if !json.Valid(body) {
				return errors.New("body is not valid JSON")
			}
			res, err := a.call(args[0], body)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(res))
			return nil
		},
	}
	a.register(cmd)
	return cmd
}

func publishCommand() *cobra.Command {
	var (
		a      apiFlags
		binary bool
		key    string
	)
	cmd := &cobra.Command{
		Use:   "publish CHANNEL DATA",
		Short: "Publish to a channel through the server API",
		Example: `  herald publish chat:lobby '{"text":"hello from the backend"}'
  herald publish --binary sensors:raw "$(printf '\x01\x02')"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"channel": args[0]}
			if binary {
				body["b64data"] = base64.StdEncoding.EncodeToString([]byte(args[1]))
			} else {
				if !json.Valid([]byte(args[1])) {
					return errors.New("DATA is not JSON (quote strings: '\"text\"', or use --binary)")
				}
				body["data"] = json.RawMessage(args[1])
			}
			if key != "" {
				body["idempotency_key"] = key
			}
			b, _ := json.Marshal(body)
			res, err := a.call("publish", b)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(res))
			return nil
		},
	}
	a.register(cmd)
	cmd.Flags().BoolVar(&binary, "binary", false, "send DATA as raw bytes (b64data)")
	cmd.Flags().StringVar(&key, "idempotency-key", "", "publish at most once per key")
	return cmd
}
