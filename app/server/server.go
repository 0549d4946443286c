// Package server wires the parts together in one place: store, channel layer, websocket
// runtime, publisher, page handlers and the Fiber app.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/template/html/v2"

	"chat/app/admin"
	"chat/app/channels"
	"chat/app/chat"
	"chat/app/config"
	"chat/app/layer"
	"chat/app/ratelimit"
	"chat/app/store"
	"chat/app/web"
)

// Assets are the embedded files the binary carries.
type Assets struct {
	Templates fs.FS
	Static    fs.FS
}

// Server is one running chat node.
type Server struct {
	Config    config.Config
	Store     *store.Store
	Layer     layer.Layer
	Sockets   *channels.Server
	Publisher *chat.Publisher
	App       *fiber.App
	log       *slog.Logger
	draining  atomic.Bool // set at Shutdown: /readyz turns unready
	chat      *chat.App
}

// New opens the database (migrating it to the latest schema), starts the layer and the
// publisher, and builds the HTTP app. Close releases all of it.
func New(cfg config.Config, assets Assets, log *slog.Logger) (*Server, error) {
	st, err := store.Open(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating the database: %w", err)
	}
	lay, err := NewLayer(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{Config: cfg, Store: st, Layer: lay, log: log}
	if err := s.build(assets); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewLayer makes the channel layer the configuration asks for.
func NewLayer(cfg config.Config) (layer.Layer, error) {
	if cfg.RedisURL == "" {
		return layer.NewMemory(layer.MemoryOptions{Capacity: cfg.ChannelCapacity}), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := layer.NewRedis(ctx, layer.RedisOptions{URL: cfg.RedisURL, Capacity: cfg.ChannelCapacity, PresenceTTL: cfg.PresenceTTL})
	if err != nil {
		return nil, fmt.Errorf("channel layer at %s: %w", redactURL(cfg.RedisURL), err)
	}
	return r, nil
}

func (s *Server) build(assets Assets) error {
	cfg := s.Config
	static, err := web.LoadAssets(assets.Static)
	if err != nil {
		return fmt.Errorf("loading static files: %w", err)
	}
	engine := html.NewFileSystem(http.FS(assets.Templates), ".html")
	engine.AddFunc("static", static.URL)
	if err := engine.Load(); err != nil {
		return fmt.Errorf("loading templates: %w", err)
	}
	s.Sockets = channels.NewServer(channels.Options{
		Layer: s.Layer, AllowedHosts: cfg.AllowedHosts, MaxFrameBytes: cfg.MaxFrameBytes,
		SendQueueBytes: cfg.SendQueueBytes, PingInterval: cfg.PingInterval, WriteTimeout: cfg.WriteTimeout,
		ParkAfter: cfg.ParkIdleAfter, ReleaseAfterParks: cfg.ReleaseAfter, Logger: s.log,
	})
	m := newMetrics(cfg.NodeName)
	s.Publisher = chat.NewPublisher(s.Store, s.Layer, cfg.PublishBatchSize, cfg.PublishLinger, s.log, m.observers())
	s.chat = &chat.App{
		Store: s.Store, Layer: s.Layer, Publisher: s.Publisher, Log: s.log,
		MessageLimiter: ratelimit.New(cfg.MessageRate, cfg.MessageBurst),
		Limits: chat.Limits{
			MaxMessageChars: cfg.MaxMessageChars, CatchupLimit: cfg.CatchupLimit, CatchupEvery: cfg.CatchupEvery,
			PresencePace:    cfg.PresencePace,
			HistoryPageSize: cfg.HistoryPageSize, EditWindow: cfg.EditWindow,
			MaxConnsPerUser: cfg.MaxConnsPerUser, MaxConnsPerIP: cfg.MaxConnsPerIP,
		},
	}
	pages, err := web.New(s.Store, s.Layer, static, web.Settings{
		SecureCookies: cfg.SecureCookies, BcryptCost: cfg.BcryptCost,
		SessionMaxAge: cfg.SessionMaxAge, SessionIdleAge: cfg.SessionIdleAge,
		HistoryPageSize: cfg.HistoryPageSize, MaxMessageChars: cfg.MaxMessageChars,
		LoginRateIP: cfg.LoginRateIP, LoginBurstIP: cfg.LoginBurstIP,
		LoginRateUser: cfg.LoginRateUser, LoginBurstUser: cfg.LoginBurstUser,
	}, s.log)
	if err != nil {
		return err
	}
	s.App = fiber.New(fiber.Config{
		AppName:               "chat",
		Views:                 engine,
		ErrorHandler:          web.ErrorHandler(s.log),
		DisableStartupMessage: true,
		// Strings from the request (params, form values, headers) are copies, not views of a
		// buffer fasthttp reuses: a value kept past its request (a limiter key, a scope) is safe.
		Immutable:   true,
		BodyLimit:   1 << 20,
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		// Read and write buffers go back to their pools between requests, and a websocket
		// handshake hands its socket over without fasthttp's 4 KiB read buffer (the websocket
		// has its own): about 4 KiB less per open socket.
		ReduceMemoryUsage: true,
	})
	s.Sockets.OwnSockets(s.App)
	staff := admin.New(admin.Deps{
		Store: s.Store, Layer: s.Layer, Rooms: s.chat, Connections: s.Sockets, View: pages.View, Log: s.log,
	}, admin.DefaultSettings)
	m.watch(s)
	ops := web.Ops{Ready: s.ready, MetricsToken: cfg.MetricsToken}
	if cfg.MetricsToken != "" || cfg.MetricsPublic {
		ops.Metrics = m.handler()
	}
	pages.Routes(s.App, s.Sockets.Route(s.chat.NewConsumer), staff.Routes, ops)
	return warmUp(s.App)
}

// warmUp renders one page before the server takes requests: Fiber builds a list it needs for
// rendering lazily on the first Render, unguarded, so concurrent first requests would race.
func warmUp(app *fiber.App) error {
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/login", nil), -1)
	if err != nil {
		return fmt.Errorf("warming up the templates: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("warming up the templates: /login answered %d", resp.StatusCode)
	}
	return nil
}

// redactURL hides a password in a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Serve serves HTTP and websockets on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.App.Listener(ln)
}

// ready reports whether this node should get traffic.
func (s *Server) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("draining for shutdown")
	}
	if err := s.Store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if h, ok := s.Layer.(interface{ Healthy() error }); ok {
		if err := h.Healthy(); err != nil {
			return fmt.Errorf("channel layer: %w", err)
		}
	}
	return nil
}

// Shutdown stops accepting, tells every open socket 1001 (going away) after its queued
// frames, waits for them within ctx, then stops the publisher and closes layer and database.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	sockErr := s.Sockets.Shutdown(ctx)
	httpErr := s.App.ShutdownWithContext(ctx)
	s.Close()
	return errors.Join(sockErr, httpErr)
}

// Close releases the publisher, layer and database.
func (s *Server) Close() {
	if s.Publisher != nil {
		s.Publisher.Close()
	}
	if s.chat != nil {
		s.chat.Close()
	}
	if s.Layer != nil {
		s.Layer.Close()
	}
	if s.Store != nil {
		s.Store.Close()
	}
}
