package main

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"chat/app/loadtest"
)

// The reference hub is driven by the same load generator as chat, unchanged: every message
// reaches every member of its room once, so the two are measured alike.
func TestLoadtestDrivesTheHub(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := newApp()
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })

	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: "http://" + ln.Addr().String(), Rooms: 3, Members: 4, Senders: 2, Rate: 60,
		Duration: time.Second, Warmup: 200 * time.Millisecond, Sources: 4,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connections != 12 || rep.ConnectFailures != 0 {
		t.Fatalf("connections %d, failures %d; want 12 and 0", rep.Connections, rep.ConnectFailures)
	}
	if rep.Sent == 0 || rep.Expected != rep.Sent*4 || rep.Received != rep.Expected || rep.Duplicates != 0 {
		t.Fatalf("sent %d, expected %d, received %d, duplicates %d", rep.Sent, rep.Expected, rep.Received, rep.Duplicates)
	}
}
