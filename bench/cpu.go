package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
)

// CPU is the servers' processor time over a measured phase, read from
// /proc when the servers' PIDs are given. PerDelivery is what the fan-out
// targets compare between servers: the same load costs a leaner server
// fewer CPU-microseconds per message delivered.
type CPU struct {
	Seconds float64 `json:"seconds"` // user + system time of all servers in the phase
	// Utilisation is Seconds over the phase's wall time: 1.0 is one core.
	Utilisation float64 `json:"utilisation"`
	// PerDeliveryUs is Seconds in microseconds over the deliveries (for
	// echo: round trips) in the phase.
	PerDeliveryUs float64 `json:"per_delivery_us"`
	// Nodes is each server's share and resident memory at the end of the
	// phase, when there are several.
	Nodes []Process `json:"nodes,omitempty"`
	// Broker is the broker process's (Redis, NATS) share, apart from the
	// servers' Seconds, when its PID is given.
	Broker *Process `json:"broker,omitempty"`
}

// Process is one process's CPU time over a phase, per delivery, and its
// resident memory at the end of it.
type Process struct {
	PID           int     `json:"pid"`
	Seconds       float64 `json:"seconds"`
	PerDeliveryUs float64 `json:"per_delivery_us"`
	RSS           uint64  `json:"rss_bytes"`
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ProcessCPU reads the user and system time of process pid, in seconds,
// from /proc/PID/stat.
func ProcessCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: server CPU: %w", err)
	}
	// The command name is in parentheses and may contain spaces; the
	// fields after it are fixed: utime is the 12th, stime the 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: unreadable /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: unreadable /proc/%d/stat", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// cpuMeter measures servers' and a broker's CPU over a phase; without
// server PIDs it measures nothing.
type cpuMeter struct {
	pids   []int
	broker int
	start  []float64 // per pid, then the broker's
	err    error
}

func startCPU(pids []int, broker int) *cpuMeter {
	m := &cpuMeter{pids: pids, broker: broker}
	if len(pids) == 0 {
		return m
	}
	for _, pid := range m.all() {
		s, err := ProcessCPU(pid)
		if err != nil {
			m.err = err
			break
		}
		m.start = append(m.start, s)
	}
	return m
}

// all is the server PIDs and then the broker's, if any.
func (m *cpuMeter) all() []int {
	if m.broker > 0 {
		return append(m.pids[:len(m.pids):len(m.pids)], m.broker)
	}
	return m.pids
}

// stop returns the CPU used since start for a phase of wallSeconds with
// deliveries, or nil without server PIDs.
func (m *cpuMeter) stop(wallSeconds float64, deliveries uint64) (*CPU, error) {
	if len(m.pids) == 0 {
		return nil, nil
	}
	if m.err != nil {
		return nil, m.err
	}
	c := &CPU{}
	for i, pid := range m.all() {
		end, err := ProcessCPU(pid)
		if err != nil {
			return nil, err
		}
		rss, _, err := serverRSS(context.Background(), pid, "")
		if err != nil {
			return nil, err
		}
		p := Process{PID: pid, Seconds: end - m.start[i], RSS: rss}
		if deliveries > 0 {
			p.PerDeliveryUs = p.Seconds * 1e6 / float64(deliveries)
		}
		if pid == m.broker && i == len(m.pids) {
			c.Broker = &p
			continue
		}
		c.Seconds += p.Seconds
		if len(m.pids) > 1 {
			c.Nodes = append(c.Nodes, p)
		}
	}
	if wallSeconds > 0 {
		c.Utilisation = c.Seconds / wallSeconds
	}
	if deliveries > 0 {
		c.PerDeliveryUs = c.Seconds * 1e6 / float64(deliveries)
	}
	return c, nil
}
