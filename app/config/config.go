// Package config parses the server's settings from environment variables, with command-line
// flags overriding them, into one Config struct that the wiring code passes down.
package config

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server. Zero configuration works: Defaults gives sane values.
type Config struct {
	Addr          string   // ADDR: listen address
	DatabaseURL   string   // DATABASE_URL: SQLite path or sqlite: URL (default chat.db), or postgres://
	RedisURL      string   // REDIS_URL: empty means the in-process channel layer
	AllowedHosts  []string // ALLOWED_HOSTS: hosts whose Origin may open websockets; empty means the request's own host
	SecureCookies bool     // SECURE_COOKIES: mark cookies Secure (serve over HTTPS)
	NodeName      string   // NODE_NAME: names this node in logs and channel names
	LogLevel      string   // LOG_LEVEL: debug, info, warn or error
	MetricsToken  string   // METRICS_TOKEN: /metrics answers only "Authorization: Bearer <token>"
	MetricsPublic bool     // METRICS_PUBLIC: serve /metrics without a token (a private network only)
	PprofAddr     string   // PPROF_ADDR: when set, serve net/http/pprof there (keep it on loopback)

	BcryptCost       int           // BCRYPT_COST: cost of password hashes (4..31)
	SessionMaxAge    time.Duration // SESSION_MAX_AGE: absolute session lifetime
	SessionIdleAge   time.Duration // SESSION_IDLE_TIMEOUT: a session unused this long expires
	MaxMessageChars  int           // MAX_MESSAGE_CHARS: longest message text, in characters
	MaxFrameBytes    int64         // MAX_FRAME_BYTES: largest websocket frame read; larger closes with 1009
	ChannelCapacity  int           // CHANNEL_CAPACITY: events a connection's channel holds before group send skips it
	SendQueueBytes   int           // SEND_QUEUE_BYTES: bytes queued for one slow client before it is closed with 1013
	HistoryPageSize  int           // HISTORY_PAGE_SIZE: messages rendered with the room page and per history page
	CatchupLimit     int           // CATCHUP_LIMIT: most missed messages replayed on reconnect before asking for a reload
	CatchupEvery     time.Duration // CATCHUP_EVERY: least time between two catch-up requests on one socket
	PresencePace     time.Duration // PRESENCE_PACE: a big room's next member list waits this per connection the last one reached
	PublishBatchSize int           // PUBLISH_BATCH_SIZE: most messages stored in one transaction (group commit)
	PublishLinger    time.Duration // PUBLISH_LINGER: how long a busy publisher waits to fill a batch
	EditWindow       time.Duration // EDIT_WINDOW: how long after sending an author may edit a message
	MessageRate      float64       // MESSAGE_RATE: messages per second one user may send, sustained
	MessageBurst     int           // MESSAGE_BURST: messages one user may send at once before the rate applies
	LoginRateIP      float64       // LOGIN_RATE_PER_IP: failed logins per minute from one address, sustained
	LoginBurstIP     int           // LOGIN_BURST_PER_IP: failed logins from one address before throttling
	LoginRateUser    float64       // LOGIN_RATE_PER_USER: failed logins per minute for one username, sustained
	LoginBurstUser   int           // LOGIN_BURST_PER_USER: failed logins for one username before throttling
	MaxConnsPerUser  int           // MAX_CONNS_PER_USER: open websockets one account may hold (0: no limit)
	MaxConnsPerIP    int           // MAX_CONNS_PER_IP: open websockets one client address may hold (0: no limit)
	PresenceTTL      time.Duration // PRESENCE_TTL: with Redis, how long a dead node's members stay listed
	PingInterval     time.Duration // PING_INTERVAL: keepalive ping period; a peer silent for 2.5x this is dropped
	WriteTimeout     time.Duration // WRITE_TIMEOUT: longest a single websocket write may block
	ParkIdleAfter    time.Duration // PARK_IDLE_AFTER: a socket silent this long gives back its reader goroutine (0: never)
	ReleaseAfter     int           // RELEASE_AFTER_PARKS: after a wave of this many parked readers, free memory goes back to the system (0: never)
}

// Defaults returns the zero-configuration settings.
func Defaults() Config {
	return Config{
		Addr:             ":8080",
		LogLevel:         "info",
		DatabaseURL:      "chat.db",
		BcryptCost:       10,
		SessionMaxAge:    14 * 24 * time.Hour,
		SessionIdleAge:   2 * 24 * time.Hour,
		MaxMessageChars:  4000,
		MaxFrameBytes:    64 << 10,
		ChannelCapacity:  256,
		SendQueueBytes:   1 << 20,
		HistoryPageSize:  50,
		CatchupLimit:     1000,
		CatchupEvery:     250 * time.Millisecond,
		PresencePace:     200 * time.Microsecond,
		PublishBatchSize: 256,
		PublishLinger:    2 * time.Millisecond,
		EditWindow:       15 * time.Minute,
		MessageRate:      5,
		MessageBurst:     20,
		LoginRateIP:      10,
		LoginBurstIP:     30,
		LoginRateUser:    2,
		LoginBurstUser:   10,
		MaxConnsPerUser:  20,
		MaxConnsPerIP:    200,
		PresenceTTL:      30 * time.Second,
		PingInterval:     20 * time.Second,
		WriteTimeout:     10 * time.Second,
		ParkIdleAfter:    2 * time.Second,
		ReleaseAfter:     1000,
	}
}

// Parse reads the environment (through getenv), then the flags in args, over the defaults.
// It returns the remaining positional arguments.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	cfg := Defaults()
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []string
	str := func(p *string, env, usage string) {
		if v := getenv(env); v != "" {
			*p = v
		}
		fs.StringVar(p, flagName(env), *p, usage+" ($"+env+")")
	}
	num := func(p *int, env, usage string) {
		if v := getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a whole number", env, v))
			}
			*p = n
		}
		fs.IntVar(p, flagName(env), *p, usage+" ($"+env+")")
	}
	dur := func(p *time.Duration, env, usage string) {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not a duration like 30s or 2h", env, v))
			}
			*p = d
		}
		fs.DurationVar(p, flagName(env), *p, usage+" ($"+env+")")
	}
	boolean := func(p *bool, env, usage string) {
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q is not true or false", env, v))
			}
			*p = b
		}
		fs.BoolVar(p, flagName(env), *p, usage+" ($"+env+")")
	}
	float := func(p *float64, env, usage string) {
		if v := getenv(env); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				errs = append(errs, fmt.Sprintf("%s=%q is not a number of zero or more", env, v))
			}
			*p = f
		}
		fs.Float64Var(p, flagName(env), *p, usage+" ($"+env+")")
	}
	var hosts string
	str(&cfg.Addr, "ADDR", "listen address")
	str(&cfg.DatabaseURL, "DATABASE_URL", "SQLite file or sqlite:/postgres:// URL")
	str(&cfg.RedisURL, "REDIS_URL", "Redis URL for the channel layer (empty: in-process)")
	str(&hosts, "ALLOWED_HOSTS", "comma-separated hosts allowed as websocket Origin (empty: the server's own host)")
	boolean(&cfg.SecureCookies, "SECURE_COOKIES", "mark cookies Secure (HTTPS)")
	str(&cfg.NodeName, "NODE_NAME", "node name for logs and channel names (default: hostname)")
	str(&cfg.MetricsToken, "METRICS_TOKEN", "bearer token that /metrics requires (off when empty, unless METRICS_PUBLIC)")
	boolean(&cfg.MetricsPublic, "METRICS_PUBLIC", "serve /metrics to anyone (only on a private network)")
	str(&cfg.PprofAddr, "PPROF_ADDR", "serve Go's profiler on this address, e.g. 127.0.0.1:6060 (off when empty)")
	str(&cfg.LogLevel, "LOG_LEVEL", "log level: debug, info, warn or error")
	num(&cfg.BcryptCost, "BCRYPT_COST", "bcrypt cost of password hashes")
	dur(&cfg.SessionMaxAge, "SESSION_MAX_AGE", "absolute session lifetime")
	dur(&cfg.SessionIdleAge, "SESSION_IDLE_TIMEOUT", "session inactivity timeout")
	num(&cfg.MaxMessageChars, "MAX_MESSAGE_CHARS", "longest message, in characters")
	var frame int
	frame = int(cfg.MaxFrameBytes)
	num(&frame, "MAX_FRAME_BYTES", "largest websocket frame accepted, in bytes")
	num(&cfg.ChannelCapacity, "CHANNEL_CAPACITY", "events queued per connection channel")
	num(&cfg.SendQueueBytes, "SEND_QUEUE_BYTES", "bytes queued for one client before it is closed with 1013")
	num(&cfg.HistoryPageSize, "HISTORY_PAGE_SIZE", "messages per history page")
	num(&cfg.CatchupLimit, "CATCHUP_LIMIT", "most messages replayed on reconnect")
	dur(&cfg.CatchupEvery, "CATCHUP_EVERY", "least time between two catch-up requests on one socket")
	dur(&cfg.PresencePace, "PRESENCE_PACE", "how long a room's next member list waits per connection the last one reached (0: no pacing)")
	num(&cfg.PublishBatchSize, "PUBLISH_BATCH_SIZE", "most messages stored per transaction")
	dur(&cfg.PublishLinger, "PUBLISH_LINGER", "how long a busy publisher waits to fill a batch (0: never)")
	dur(&cfg.EditWindow, "EDIT_WINDOW", "how long after sending a message its author may edit it")
	float(&cfg.MessageRate, "MESSAGE_RATE", "messages per second one user may send (0 with MESSAGE_BURST=0: no limit)")
	num(&cfg.MessageBurst, "MESSAGE_BURST", "messages one user may send in a burst")
	float(&cfg.LoginRateIP, "LOGIN_RATE_PER_IP", "failed logins per minute allowed from one address")
	num(&cfg.LoginBurstIP, "LOGIN_BURST_PER_IP", "failed logins from one address before throttling")
	float(&cfg.LoginRateUser, "LOGIN_RATE_PER_USER", "failed logins per minute allowed for one username")
	num(&cfg.LoginBurstUser, "LOGIN_BURST_PER_USER", "failed logins for one username before throttling")
	num(&cfg.MaxConnsPerUser, "MAX_CONNS_PER_USER", "open websockets one account may hold (0: no limit)")
	num(&cfg.MaxConnsPerIP, "MAX_CONNS_PER_IP", "open websockets one client address may hold (0: no limit)")
	dur(&cfg.PresenceTTL, "PRESENCE_TTL", "with Redis: how long a dead node's members stay in presence")
	dur(&cfg.PingInterval, "PING_INTERVAL", "websocket keepalive ping period")
	dur(&cfg.WriteTimeout, "WRITE_TIMEOUT", "longest single websocket write")
	dur(&cfg.ParkIdleAfter, "PARK_IDLE_AFTER", "how long a silent websocket keeps its reader goroutine before the poller takes it over (0: always keeps it)")
	num(&cfg.ReleaseAfter, "RELEASE_AFTER_PARKS", "parked readers in a wave after which free memory is returned to the system (0: never)")

	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	cfg.MaxFrameBytes = int64(frame)
	cfg.AllowedHosts = splitList(hosts)
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		return cfg, nil, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return cfg, fs.Args(), nil
}

func (c Config) validate() []string {
	var errs []string
	positive := map[string]int{
		"MAX_MESSAGE_CHARS": c.MaxMessageChars, "MAX_FRAME_BYTES": int(c.MaxFrameBytes),
		"CHANNEL_CAPACITY": c.ChannelCapacity, "SEND_QUEUE_BYTES": c.SendQueueBytes,
		"HISTORY_PAGE_SIZE": c.HistoryPageSize, "CATCHUP_LIMIT": c.CatchupLimit,
		"PUBLISH_BATCH_SIZE": c.PublishBatchSize,
	}
	for name, v := range positive {
		if v <= 0 {
			errs = append(errs, name+" must be above zero")
		}
	}
	if c.CatchupLimit > 50000 || c.HistoryPageSize > 1000 {
		errs = append(errs, "CATCHUP_LIMIT is at most 50000 and HISTORY_PAGE_SIZE at most 1000")
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		errs = append(errs, "BCRYPT_COST must be between 4 and 31")
	}
	if c.CatchupEvery < 0 || c.ParkIdleAfter < 0 || c.ReleaseAfter < 0 {
		errs = append(errs, "CATCHUP_EVERY, PARK_IDLE_AFTER and RELEASE_AFTER_PARKS must not be negative")
	}
	if c.PresencePace < 0 || c.PresencePace > time.Millisecond {
		errs = append(errs, "PRESENCE_PACE must be between 0 and 1ms")
	}
	if c.PresenceTTL < 300*time.Millisecond {
		errs = append(errs, "PRESENCE_TTL must be at least 300ms")
	}
	if c.PingInterval < 100*time.Millisecond || c.WriteTimeout <= 0 || c.SessionMaxAge <= 0 || c.SessionIdleAge <= 0 {
		errs = append(errs, "PING_INTERVAL (at least 100ms), WRITE_TIMEOUT and the session ages must be above zero")
	}
	return errs
}

// flagName turns an environment name like MAX_FRAME_BYTES into the flag -max-frame-bytes.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(env), "_", "-")
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, strings.ToLower(part))
		}
	}
	return out
}
