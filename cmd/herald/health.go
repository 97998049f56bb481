package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand probes a running server's /healthz. It exists for the
// container image, which has no shell and no curl: Docker's HEALTHCHECK
// runs the binary itself.
func healthCommand() *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if a server's /healthz answers 200, 1 otherwise",
		Long: `Probe a running server's /healthz: exit status 0 when it answers 200
within --timeout, 1 otherwise. The container image's HEALTHCHECK runs it.

Without --url it probes the loopback address on the port of $HERALD_ADDRESS
(8000 when unset), over plain HTTP: with TLS configured in Herald, pass an
https URL whose name the certificate covers.`,
		Example: `  herald health
  herald health --url http://10.0.0.5:8000/healthz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				u, err := localHealthURL(os.Getenv("HERALD_ADDRESS"))
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				url = u
			}
			if err := probe(cmd.Context(), url, timeout); err != nil {
				return &exitError{code: 1, err: err}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the URL to probe (default http://127.0.0.1:<port of $HERALD_ADDRESS or 8000>/healthz)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "give up after this long")
	return cmd
}

// localHealthURL is /healthz on the listener an address names, reached over
// loopback when the address is a wildcard (":8000", "0.0.0.0:8000").
func localHealthURL(address string) (string, error) {
	if address == "" {
		address = ":8000"
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", fmt.Errorf("HERALD_ADDRESS %q: %v", address, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// probe GETs url and wants a 200 before the timeout.
func probe(ctx context.Context, url string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A little of the body explains a refusal; never more than that.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
