package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"chat/app/loadtest"
)

// runLoadtest is `chat loadtest`: it drives a running server (see README, Performance).
func runLoadtest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chat loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadtest.Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "server to load")
	fs.IntVar(&o.Rooms, "rooms", 1, "rooms (R)")
	fs.IntVar(&o.Members, "members", 100, "connections per room (S)")
	fs.IntVar(&o.Senders, "senders", 1, "senders per room (K), each one of the members")
	fs.Float64Var(&o.Rate, "rate", 1000, "total messages per second over all senders")
	fs.DurationVar(&o.Duration, "duration", 10e9, "measured time (idle mode: how long to hold)")
	fs.DurationVar(&o.Warmup, "warmup", 2e9, "traffic before measuring")
	fs.BoolVar(&o.Idle, "idle", false, "only hold the connections, then measure one broadcast to room 0")
	fs.IntVar(&o.Users, "users", 0, "distinct accounts to register (0: one per sender plus up to 100)")
	fs.StringVar(&o.Password, "password", "", "password of the registered accounts")
	fs.IntVar(&o.Sources, "sources", 16, "loopback source addresses (127.0.0.2 ...) to spread connections over; 0: the default")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "the server's pid, to measure its CPU and memory")
	fs.StringVar(&o.RoomPrefix, "room-prefix", "load-", "room names are this plus a number")
	fs.IntVar(&o.MessageSize, "size", 0, "pad messages to this many bytes")
	fs.IntVar(&o.Dialers, "dialers", 64, "websocket handshakes in flight at once")
	fs.StringVar(&o.ClientIDs, "client-ids", "time", "client_id each message carries: time (time-ordered UUIDv7, as the page sends), random (UUIDv4) or none")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := loadtest.Run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "chat loadtest: %v\n", err)
		return 1
	}
	return 0
}
