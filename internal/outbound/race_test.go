//go:build race

package outbound

// raceEnabled: the race detector makes sync.Pool drop a share of what is
// put in it at random, so allocation counts that rely on a pool are not
// checked under it.
const raceEnabled = true
