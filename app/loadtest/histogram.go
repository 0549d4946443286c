package loadtest

import (
	"math"
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets (about 1% wide) from 1 µs to ~100 s in
// fixed memory, so recording costs one increment and no allocation.
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    time.Duration
}

const (
	histSubBuckets = 64 // per power of two
	histBuckets    = 27 * histSubBuckets
)

func bucketOf(d time.Duration) int {
	us := d.Microseconds()
	if us < 1 {
		return 0
	}
	exp := 63 - bits.LeadingZeros64(uint64(us)) // floor(log2)
	var sub int
	if exp >= 6 {
		sub = int((us >> (exp - 6)) & (histSubBuckets - 1))
	} else {
		sub = int((us << (6 - exp)) & (histSubBuckets - 1))
	}
	b := exp*histSubBuckets + sub
	if b >= histBuckets {
		b = histBuckets - 1
	}
	return b
}

// lowerBound is the smallest latency that falls in bucket b.
func lowerBound(b int) time.Duration {
	exp, sub := b/histSubBuckets, b%histSubBuckets
	us := math.Ldexp(1+float64(sub)/histSubBuckets, exp)
	return time.Duration(us * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.total++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the latency below which q of the samples fall.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return lowerBound(i)
		}
	}
	return h.max
}
