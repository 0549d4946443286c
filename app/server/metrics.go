package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"chat/app/chat"
)

// metrics are the Prometheus series of one node. Most are read from the parts' own counters
// when scraped, so the hot paths pay nothing for them; only the two latency histograms are
// observed as they happen, once per transaction and once per broadcast.
type metrics struct {
	registry  *prometheus.Registry
	reg       prometheus.Registerer // registry, adding the node label to every series
	commit    prometheus.Histogram
	broadcast prometheus.Histogram
}

func newMetrics(node string) *metrics {
	registry := prometheus.NewRegistry()
	reg := prometheus.WrapRegistererWith(prometheus.Labels{"node": node}, registry)
	m := &metrics{
		registry: registry, reg: reg,
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chat_store_commit_seconds", Help: "Time to store one batch of messages (one transaction).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		broadcast: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chat_layer_group_send_seconds", Help: "Time for one group send on the channel layer.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 16),
		}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.commit, m.broadcast)
	return m
}

// handler serves the series in the Prometheus text format.
func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}

// observers feed the publisher's timings into the histograms.
func (m *metrics) observers() chat.Observers {
	return chat.Observers{
		Commit:    func(d time.Duration, _ int) { m.commit.Observe(d.Seconds()) },
		Broadcast: func(d time.Duration) { m.broadcast.Observe(d.Seconds()) },
	}
}

// watch registers the series read from the running parts.
func (m *metrics) watch(s *Server) {
	counter := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("chat_websocket_connections", "Websocket connections open on this node.",
		func() float64 { return float64(s.Sockets.Stats().Open) })
	gauge("chat_websocket_parked", "Websocket connections whose reader is parked: silent, read by no goroutine.",
		func() float64 { return float64(s.Sockets.Stats().Parked) })
	counter("chat_websocket_memory_releases_total", "Times free memory went back to the system after a wave of readers parked.",
		func() float64 { return float64(s.Sockets.Stats().Releases) })
	counter("chat_websocket_accepted_total", "Websocket handshakes accepted.",
		func() float64 { return float64(s.Sockets.Stats().Accepted) })
	counter("chat_websocket_denied_total", "Websocket handshakes refused (origin, login, room, limits).",
		func() float64 { return float64(s.Sockets.Stats().Denied) })
	counter("chat_websocket_slow_closes_total", "Connections closed with 1013 because the client could not keep up.",
		func() float64 { return float64(s.Sockets.Stats().SlowCloses) })
	counter("chat_websocket_writes_total", "Socket writes; deliveries per write shows how well writes coalesce.",
		func() float64 { return float64(s.Sockets.Stats().Writes) })
	counter("chat_messages_stored_total", "Messages stored and broadcast.",
		func() float64 { return float64(s.Publisher.Stats().Stored) })
	counter("chat_messages_failed_total", "Messages whose transaction failed (the sender got store_failed).",
		func() float64 { return float64(s.Publisher.Stats().Failed) })
	counter("chat_store_batches_total", "Transactions run by the publisher.",
		func() float64 { return float64(s.Publisher.Stats().Batches) })
	counter("chat_layer_deliveries_total", "Events put on this node's channels (deliveries to connections).",
		func() float64 { return float64(s.Layer.Stats().Sent) })
	counter("chat_layer_group_send_skips_total", "Group deliveries skipped because the member's queue was full.",
		func() float64 { return float64(s.Layer.Stats().Skipped) })
	gauge("chat_rooms_active", "Rooms with someone present.", func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		counts, err := s.Layer.PresenceCounts(ctx)
		if err != nil {
			return 0
		}
		rooms := 0
		for g := range counts {
			if len(g) > 5 && g[:5] == "room." {
				rooms++
			}
		}
		return float64(rooms)
	})
}
