package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is returned, at once, by calls on a Redis server the
// broker knows to be unreachable: its subscriber connection's latest
// attempt to connect failed. The hub answers them with the temporary
// error 100 like any other failure, without making the client wait out a
// timeout.
var ErrUnavailable = errors.New("redis: server unreachable")

// Each server's subscriber connection redials it with backoff (at most a
// second apart) for as long as it is down, and is the broker's view of the
// server: while its latest attempt failed (refused, timed out, or
// connected but never subscribed, as behind a partition), commands to that
// server fail with ErrUnavailable before touching the network. Without
// this, every command of a partitioned server would wait out the read or
// dial timeout, and Subscribe the whole Timeout. A command can only fail
// fast, never be acknowledged without reaching Redis, so the worst a wrong
// guess does is fail a command up to a second after the server is back.
//
// In Cluster mode there is no such view per server; commands rely on
// go-redis's own handling of unreachable nodes.

// circuit is a go-redis hook failing commands while c is down, except
// those of c's own attempts to reconnect (go-redis sends HELLO on every new
// connection through the hooks), whose contexts carry redialing.
type circuit struct{ c *subConn }

// redialing marks the context of a subscriber connection's attempt.
type redialing struct{}

func bypass(ctx context.Context) bool { return ctx.Value(redialing{}) != nil }

func (h circuit) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h circuit) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := h.c.unavailable(); err != nil && !bypass(ctx) {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h circuit) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := h.c.unavailable(); err != nil && !bypass(ctx) {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// unavailable returns the error of commands to c's server while its latest
// connection attempt failed, else nil.
func (c *subConn) unavailable() error {
	if c.down.Load() {
		return c.downErr
	}
	return nil
}

// setDown records the outcome of a connection attempt.
func (c *subConn) setDown(down bool) {
	c.down.Store(down)
}

// commandsBack waits until a command to c's server succeeds, then tells
// the handler that the connection recovered. The subscriber connection
// can be back before the command connections are: go-redis stops dialing
// for a second after repeated dial errors. A handler told too early would
// check its subscribers against streams it cannot read yet, and give up.
// It gives up if the connection is lost again, whose recovery calls it
// anew.
func (c *subConn) commandsBack(ctx context.Context) {
	defer c.b.wg.Done()
	wait := minBackoff
	for {
		pctx, cancel := context.WithTimeout(ctx, c.b.opts.Timeout)
		err := c.client.Ping(pctx).Err()
		cancel()
		if err == nil {
			break
		}
		if !c.isUp() || ctx.Err() != nil {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
	if h := c.b.h(); h != nil {
		h.HandleReconnect()
	}
}

func newDownErr(server string) error {
	return fmt.Errorf("%w: %s (its subscriber connection cannot reconnect)", ErrUnavailable, server)
}
