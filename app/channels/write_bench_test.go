package channels

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
)

// BenchmarkSyscall measures what a system call costs on this machine before it does any work
// (getppid does none). Every read, write, epoll wait and futex wake of a delivery pays it, so
// it is the unit the per-delivery figures of docs/performance.md are made of.
func BenchmarkSyscall(b *testing.B) {
	for b.Loop() {
		syscall.Getppid()
	}
}

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
