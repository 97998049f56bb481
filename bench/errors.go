package bench

import "errors"

var errHistogramPrecision = errors.New("bench: histogram from another precision or corrupt")
