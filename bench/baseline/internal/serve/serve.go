// Package serve is the command-line shell the baseline servers share: the
// flags, the listener, the optional profiling endpoint and a clean shutdown,
// so that the two servers differ only in their hubs.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// MaxMessageSize bounds one incoming message, as Herald's default does, so
// that the baselines refuse what Herald refuses.
const MaxMessageSize = 64 << 10

// Path is where the baselines accept WebSocket connections, Herald's path.
const Path = "/ws"

// EchoPath is where the baselines accept echo connections, Herald's path
// for its diagnostic echo endpoint.
const EchoPath = "/echo"

// Hub is one baseline: the WebSocket endpoints and their connections.
type Hub interface {
	// ServeHTTP upgrades a request to a WebSocket connection that joins the
	// broadcast.
	http.Handler
	// Echo upgrades a request to a WebSocket connection whose text messages
	// go back to it alone: the floor of a request/response round trip.
	Echo() http.Handler
	// Close closes every connection and returns once the hub's goroutines
	// have ended.
	Close()
}

// Main runs the baseline called name with the process's arguments until
// SIGINT or SIGTERM, and exits with status 2 on a usage error and 1 on any
// other error.
func Main(name, defaultAddr string, newHub func() Hub) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Run(ctx, name, defaultAddr, os.Args[1:], os.Stdout, newHub)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// Run parses args, serves until ctx is done, then shuts the HTTP server and
// the hub down. It writes the PID and the listening address to out first,
// so that a load tool (or a person attaching a profiler) can find the
// process; with -addr ending in :0 the address printed is the real one.
func Run(ctx context.Context, name, defaultAddr string, args []string, out io.Writer, newHub func() Hub) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", defaultAddr, "`address` to listen on")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof at `address` (e.g. localhost:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var pln net.Listener
	if *pprofAddr != "" {
		if pln, err = net.Listen("tcp", *pprofAddr); err != nil {
			ln.Close()
			return err
		}
	}

	hub := newHub()
	mux := http.NewServeMux()
	mux.Handle(Path, hub)
	mux.Handle(EchoPath, hub.Echo())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "%s baseline: pid %d, listening on ws://%s%s\n", name, os.Getpid(), ln.Addr(), Path)

	var psrv *http.Server
	if pln != nil {
		psrv = &http.Server{Handler: profileMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- psrv.Serve(pln) }()
		fmt.Fprintf(out, "%s baseline: pprof on http://%s/debug/pprof/\n", name, pln.Addr())
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown does not touch hijacked connections: the hub closes those.
	_ = srv.Shutdown(sctx)
	if psrv != nil {
		_ = psrv.Shutdown(sctx)
	}
	hub.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// profileMux serves the profiles on a mux of its own rather than
// http.DefaultServeMux, which anything imported could add handlers to.
func profileMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
