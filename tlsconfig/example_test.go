package tlsconfig_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald/tlsconfig"
)

// The listener is wrapped once; SIGHUP reloads the files in place.
func ExampleReloader_Reload() {
	r, err := tlsconfig.New(tlsconfig.Options{
		CertFile: "tls.crt",
		KeyFile:  "tls.key",
	})
	if err != nil {
		slog.Error("tls", "err", err)
		os.Exit(1)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := r.Reload(); err != nil {
				slog.Error("tls reload failed; still serving the previous certificate", "err", err)
				continue
			}
			slog.Info("tls reloaded", "subject", r.Leaf().Subject.CommonName, "expires", r.Leaf().NotAfter)
		}
	}()
	l, err := net.Listen("tcp", ":8443")
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	_ = http.Serve(tls.NewListener(l, r.Config()), http.NotFoundHandler())
}
