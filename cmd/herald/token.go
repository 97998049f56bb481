package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald/auth"
)

func tokenCommand() *cobra.Command {
	var (
		secret, user, channel, info string
		ttl                         time.Duration
		channels, subs              []string
	)
	cmd := &cobra.Command{
		Use:   "token --user U",
		Short: "Mint a connection or channel token (HS256) for testing",
		Long: `Mint a connection token, or with --channel a channel token, signed with the
server's token secret (--secret, or HERALD_TOKEN_HMAC_SECRET).

Production backends mint tokens themselves; this is for trying things out.`,
		Example: `  herald token --secret s3cret-s3cret-s3cret --user alice
  herald token --user alice --ttl 10m --info '{"name":"Alice"}' --channels 'team:*'
  herald token --user alice --channel secret:plans`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if secret == "" {
				secret = os.Getenv("HERALD_TOKEN_HMAC_SECRET")
			}
			if secret == "" {
				return errors.New("no secret: pass --secret or set HERALD_TOKEN_HMAC_SECRET")
			}
			if user == "" {
				return errors.New("--user is required")
			}
			now := time.Now()
			claims := map[string]any{"sub": user, "iat": now.Unix()}
			if ttl > 0 {
				claims["exp"] = now.Add(ttl).Unix()
			}
			if channel != "" {
				claims["channel"] = channel
			}
			if info != "" {
				var v any
				if err := json.Unmarshal([]byte(info), &v); err != nil {
					return fmt.Errorf("--info is not JSON: %v", err)
				}
				claims["info"] = v
			}
			if len(channels) > 0 {
				claims["channels"] = channels
			}
			if len(subs) > 0 {
				claims["subs"] = subs
			}
			tok, err := auth.SignHMAC([]byte(secret), claims)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&secret, "secret", "", "token secret (default $HERALD_TOKEN_HMAC_SECRET)")
	f.StringVar(&user, "user", "", "user id (sub claim)")
	f.DurationVar(&ttl, "ttl", time.Hour, "lifetime (exp claim); 0 for none")
	f.StringVar(&channel, "channel", "", "make a channel token for this channel")
	f.StringVar(&info, "info", "", "info claim, as JSON")
	f.StringSliceVar(&channels, "channels", nil, "channels claim: names or prefixes ending in *")
	f.StringSliceVar(&subs, "subs", nil, "subs claim: channels subscribed on connect")
	return cmd
}
