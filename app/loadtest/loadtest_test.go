package loadtest_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"chat/app/apptest"
	"chat/app/loadtest"
)

// The load generator against a real server, small enough for CI: every message sent in the
// window is delivered to every member of its room exactly once, and the report says so. Its
// messages carry client ids as a browser's do (the server's deduplication path), or none.
func TestLoadtestCountsEveryDelivery(t *testing.T) {
	for _, kind := range []string{"random", "time", "none"} {
		t.Run(kind, func(t *testing.T) {
			cfg := apptest.Config(t)
			cfg.MessageRate, cfg.MessageBurst = 0, 0
			env := apptest.Start(t, cfg)
			out := io.Discard
			if testing.Verbose() {
				out = os.Stdout
			}
			rep, err := loadtest.Run(context.Background(), loadtest.Options{
				URL: env.BaseURL, Rooms: 3, Members: 4, Senders: 2, Rate: 60,
				Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond, Sources: 4,
				ServerPID: os.Getpid(), ClientIDs: kind,
			}, out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Connections != 12 || rep.ConnectFailures != 0 {
				t.Fatalf("connections %d, failures %d; want 12 and 0", rep.Connections, rep.ConnectFailures)
			}
			if rep.Sent == 0 || rep.Expected != rep.Sent*4 {
				t.Fatalf("sent %d, expected deliveries %d; want sent > 0 and 4 per message", rep.Sent, rep.Expected)
			}
			if rep.Lost != 0 || rep.Duplicates != 0 || rep.Dropped != 0 || rep.Received != rep.Expected {
				t.Fatalf("received %d of %d, lost %d, duplicates %d, dropped %d", rep.Received, rep.Expected, rep.Lost, rep.Duplicates, rep.Dropped)
			}
			if rep.P50 <= 0 || rep.Max < rep.P99 || rep.ServerCPU <= 0 {
				t.Fatalf("implausible figures: p50 %s p99 %s max %s server CPU %s", rep.P50, rep.P99, rep.Max, rep.ServerCPU)
			}
			// What was stored carries the client ids the load generator sent, or none.
			room, err := env.Server.Store.RoomByName(context.Background(), "load-0")
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := env.Server.Store.RecentMessages(context.Background(), room.ID, 10)
			if err != nil || len(msgs) == 0 {
				t.Fatalf("stored messages of load-0: %d, %v", len(msgs), err)
			}
			for _, m := range msgs {
				if (m.ClientID != "") != (kind != "none") {
					t.Fatalf("client ids %s: message %d stored with client_id %q", kind, m.ID, m.ClientID)
				}
			}
		})
	}
}

// An unknown -client-ids kind is refused before anything is registered.
func TestLoadtestRefusesUnknownClientIDKind(t *testing.T) {
	_, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: "http://127.0.0.1:1", Rooms: 1, Members: 1, ClientIDs: "sequential",
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sequential") {
		t.Fatalf("err = %v, want one naming the bad kind", err)
	}
}

// Idle mode holds the connections and measures one broadcast to the whole room.
func TestLoadtestIdleBroadcast(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	var out strings.Builder
	rep, err := loadtest.Run(context.Background(), loadtest.Options{
		URL: env.BaseURL, Rooms: 1, Members: 20, Idle: true, Duration: 200 * time.Millisecond, Users: 5,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 1 || rep.Received != 20 || rep.Lost != 0 {
		t.Fatalf("sent %d received %d lost %d; want one broadcast reaching all 20", rep.Sent, rep.Received, rep.Lost)
	}
	// The idle mode is judged by its own bar (p99 under 1 s), not the load runs' 100 ms.
	if !strings.Contains(out.String(), "verdict          DELIVERED") {
		t.Errorf("report lacks the idle verdict:\n%s", out.String())
	}
}
