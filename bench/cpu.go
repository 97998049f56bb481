package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// CPU is the server's processor time over a measured phase, read from
// /proc when the server's PID is given. PerDelivery is what the fan-out
// targets compare between servers: the same load costs a leaner server
// fewer CPU-microseconds per message delivered.
type CPU struct {
	Seconds float64 `json:"seconds"` // user + system time in the phase
	// Utilisation is Seconds over the phase's wall time: 1.0 is one core.
	Utilisation float64 `json:"utilisation"`
	// PerDeliveryUs is Seconds in microseconds over the deliveries (for
	// echo: round trips) in the phase.
	PerDeliveryUs float64 `json:"per_delivery_us"`
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// serverCPU reads utime+stime of pid in seconds.
func serverCPU(pid int) (float64, error) {
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

// cpuMeter measures a server's CPU over a phase; the zero value (no PID)
// measures nothing.
type cpuMeter struct {
	pid   int
	start float64
	err   error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	if pid > 0 {
		m.start, m.err = serverCPU(pid)
	}
	return m
}

// stop returns the CPU used since start for a phase of wallSeconds with
// deliveries, or nil without a PID.
func (m *cpuMeter) stop(wallSeconds float64, deliveries uint64) (*CPU, error) {
	if m.pid <= 0 {
		return nil, nil
	}
	if m.err != nil {
		return nil, m.err
	}
	end, err := serverCPU(m.pid)
	if err != nil {
		return nil, err
	}
	c := &CPU{Seconds: end - m.start}
	if wallSeconds > 0 {
		c.Utilisation = c.Seconds / wallSeconds
	}
	if deliveries > 0 {
		c.PerDeliveryUs = c.Seconds * 1e6 / float64(deliveries)
	}
	return c, nil
}
