// Package cli is the command line: it picks the subcommand, parses the configuration and
// hands over to the server. main.go only calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when PPROF_ADDR is set
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"chat/app/config"
	"chat/app/layer"
	"chat/app/server"
	"chat/app/store"
	"chat/migrations"
)

// shutdownTimeout bounds a graceful stop: sockets told 1001, writes in flight finished.
const shutdownTimeout = 10 * time.Second

const usage = `chat: a multi-room web chat.

Usage:
  chat [serve] [flags]   run the server (the default)
  chat migrate [flags]   bring the database schema up to date
  chat check [flags]     prove the database and the channel layer work end to end
  chat createsuperuser [--username NAME] [--password PW] [--no-input] [flags]
                         create a staff superuser for /admin/ (asks when stdin is a
                         terminal; or set CHAT_SUPERUSER_USERNAME / CHAT_SUPERUSER_PASSWORD)
  chat loadtest [flags]  drive a running server with many authenticated websockets and report

Every flag can also be set by its environment variable; run "chat serve -h" for the list.
`

// Run runs the command line with args (without the program name) and returns the exit code.
func Run(args []string, assets server.Assets, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	commands := map[string]func(config.Config, server.Assets, io.Writer, *slog.Logger) error{
		"serve":   serve,
		"migrate": migrate,
		"check":   check,
	}
	if cmd == "createsuperuser" { // its own flags on top of the configuration's
		return createSuperuser(args, os.Getenv, os.Stdin, stdout, stderr)
	}
	run, ok := commands[cmd]
	if cmd == "loadtest" {
		return runLoadtest(args, stdout, stderr)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if !ok {
		fmt.Fprintf(stderr, "chat: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet("chat "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, _, err := config.Parse(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chat: %v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.NodeName)
	redis.SetLogger(redisLogger{log})
	if err := run(cfg, assets, stdout, log); err != nil {
		fmt.Fprintf(stderr, "chat %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level, node string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})).With("node", node)
}

// redisLogger sends go-redis's own messages (failed dials during an outage) to our log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis: " + fmt.Sprintf(format, v...))
}

// serve runs the server until SIGINT or SIGTERM, then stops gracefully.
func serve(cfg config.Config, assets server.Assets, stdout io.Writer, log *slog.Logger) error {
	srv, err := server.New(cfg, assets, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		return err
	}
	fmt.Fprintf(stdout, "chat is listening on %s (database %s)\n", displayURL(ln.Addr()), store.Describe(cfg.DatabaseURL))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.PprofAddr != "" {
		go func() {
			// The default mux carries the /debug/pprof handlers registered by net/http/pprof.
			log.Info("profiler listening", "addr", cfg.PprofAddr)
			if err := http.ListenAndServe(cfg.PprofAddr, nil); err != nil {
				log.Error("profiler stopped", "err", err)
			}
		}()
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	select {
	case err := <-errc:
		srv.Close()
		return err
	case sig := <-stop:
		log.Info("shutting down", "signal", sig.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// displayURL turns a listen address into a URL a person can open.
func displayURL(addr net.Addr) string {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// migrate applies pending migrations and reports the version.
func migrate(cfg config.Config, _ server.Assets, stdout io.Writer, _ *slog.Logger) error {
	st, err := store.Open(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); schema is at version %d of %d\n", applied, migrations.Latest(), migrations.Latest())
	return nil
}

// check sends a message through the configured channel layer and receives it back, and
// pings the database; any failure is an error with a clear message.
func check(cfg config.Config, _ server.Assets, stdout io.Writer, _ *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st, err := store.Open(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("database %s does not answer: %w", store.Describe(cfg.DatabaseURL), err)
	}
	version, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("database: reading the schema version: %w", err)
	}
	fmt.Fprintf(stdout, "database ok: %s, schema version %d of %d\n", store.Describe(cfg.DatabaseURL), version, migrations.Latest())
	if version < migrations.Latest() {
		fmt.Fprintln(stdout, "  (run \"chat migrate\" or start the server to apply the rest)")
	}

	// Two layers stand for two nodes: with Redis the message crosses from one to the other.
	sender, err := server.NewLayer(cfg)
	if err != nil {
		return fmt.Errorf("channel layer: %w", err)
	}
	defer sender.Close()
	receiver := sender
	what := "in-process"
	if cfg.RedisURL != "" {
		if receiver, err = server.NewLayer(cfg); err != nil {
			return fmt.Errorf("channel layer: %w", err)
		}
		defer receiver.Close()
		what = "Redis, from one node to another"
	}
	if err := checkLayer(ctx, sender, receiver); err != nil {
		return fmt.Errorf("channel layer (%s): %w", what, err)
	}
	fmt.Fprintf(stdout, "channel layer ok (%s): a message sent on a test channel arrived, and so did a group send\n", what)
	return nil
}

// checkLayer sends on a channel made by receiver and expects it back, then does the same
// through a group, like Channels' "channel_layer.send / receive" shell check.
func checkLayer(ctx context.Context, sender, receiver layer.Layer) error {
	box, err := receiver.NewChannel(ctx, "check")
	if err != nil {
		return err
	}
	defer receiver.CloseChannel(ctx, box.Name)
	want := &layer.Event{Type: "check.ping", Data: []byte(`{"type":"check.ping"}`)}
	if err := sender.Send(ctx, box.Name, want); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	got, err := receiver.Receive(ctx, box.Name)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if got.Type != want.Type || string(got.Data) != string(want.Data) {
		return fmt.Errorf("received %q, sent %q", got.Data, want.Data)
	}
	if err := receiver.GroupAdd(ctx, "check.group", box.Name); err != nil {
		return fmt.Errorf("group add: %w", err)
	}
	defer receiver.GroupDiscard(ctx, "check.group", box.Name)
	if err := sender.GroupSend(ctx, "check.group", &layer.Event{Type: "check.group", Data: []byte(`{"type":"check.group"}`)}); err != nil {
		return fmt.Errorf("group send: %w", err)
	}
	if got, err = receiver.Receive(ctx, box.Name); err != nil || got.Type != "check.group" {
		return fmt.Errorf("group receive: %v", err)
	}
	return nil
}
