//go:build !unix

package sockread

import "errors"

// readNow is never called where no socket is polled.
func readNow(int, []byte) (int, error) { return 0, errors.ErrUnsupported }

func wouldBlock(error) bool { return false }
