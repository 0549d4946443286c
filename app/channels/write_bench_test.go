package channels

import (
	"fmt"
	"io"
	"net"
	"testing"
)

// BenchmarkLoopbackWrite measures the floor under a delivery: one write system call of k
// 200-byte frames to a loopback TCP socket whose peer drains it. On loopback the kernel also
// runs the receiving side's TCP work inside the write, so the per-write cost, not the bytes,
// is what a writer that coalesces frames saves.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, k := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("frames=%d", k), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, c)
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var buf []byte
			for range k {
				buf = appendFrame(buf, opText, make([]byte, 200))
			}
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/frame")
		})
	}
}
