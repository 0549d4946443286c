package loadtest

import (
	"fmt"
	"io"
	"time"
)

func printReport(w io.Writer, o Options, r *Report) {
	mode := fmt.Sprintf("%d rooms x %d members, %d sender(s)/room, target %.0f msg/s, client ids %s", o.Rooms, o.Members, o.Senders, o.Rate, o.ClientIDs)
	if o.Idle {
		mode = fmt.Sprintf("idle: %d rooms x %d members, one broadcast to room 0 (no client id)", o.Rooms, o.Members)
	}
	fmt.Fprintf(w, "\n== %s\n", mode)
	fmt.Fprintf(w, "connections      %d opened, %d failed; connect p50 %s p99 %s\n", r.Connections, r.ConnectFailures, round(r.ConnectP50), round(r.ConnectP99))
	if r.Dropped > 0 {
		fmt.Fprintf(w, "DROPPED          %d connections ended during the run, close codes %v\n", r.Dropped, r.CloseCodes)
	}
	fmt.Fprintf(w, "messages         %d sent in %s (%d error frames)\n", r.Sent, r.Window.Round(time.Millisecond), r.SendErrors)
	fmt.Fprintf(w, "deliveries       %d received of %d expected: lost %d, duplicates %d\n", r.Received, r.Expected, r.Lost, r.Duplicates)
	fmt.Fprintf(w, "throughput       %.0f deliveries/s\n", r.DeliveriesPerSec)
	fmt.Fprintf(w, "latency          p50 %s  p90 %s  p99 %s  max %s\n", round(r.P50), round(r.P90), round(r.P99), round(r.Max))
	if o.ServerPID > 0 {
		fmt.Fprintf(w, "server CPU       %s in the window, %s per delivery\n", r.ServerCPU.Round(time.Millisecond), r.ServerCPUPerDeliv)
		fmt.Fprintf(w, "server RSS       %.1f MiB before connecting, %.1f MiB at the end", float64(r.ServerRSSBefore)/(1<<20), float64(r.ServerRSSAfter)/(1<<20))
		if r.Connections > 0 && r.ServerRSSAfter > r.ServerRSSBefore {
			fmt.Fprintf(w, ", %.1f KiB per connection", float64(r.ServerRSSAfter-r.ServerRSSBefore)/1024/float64(r.Connections))
		}
		fmt.Fprintln(w)
		if !o.Idle && r.Sent > 0 && r.ServerDiskWrites >= 0 {
			fmt.Fprintf(w, "server writes    %.1f MiB to storage in the window, %.1f KiB per message sent\n", float64(r.ServerDiskWrites)/(1<<20), float64(r.ServerDiskWrites)/1024/float64(r.Sent))
		}
	}
	fmt.Fprintf(w, "load-test CPU    %s, %s per delivery\n", r.ClientCPU.Round(time.Millisecond), r.ClientCPUPerDeliv)
	fmt.Fprintf(w, "verdict          %s\n", verdict(o, r))
}

// verdict judges a run: a load run is sustained with no loss, no duplicate, no dropped
// connection and p99 under 100 ms; an idle run's one broadcast must reach every connection
// with p99 under 1 s.
func verdict(o Options, r *Report) string {
	failed := r.Sent == 0 || r.Dropped > 0 || r.Lost != 0 || r.Duplicates != 0 || r.SendErrors > 0
	if o.Idle {
		if failed || r.P99 >= time.Second {
			return "NOT delivered to all within 1s"
		}
		return "DELIVERED (every connection, no duplicates, p99 < 1s)"
	}
	if failed || r.P99 >= 100*time.Millisecond {
		return "NOT sustained"
	}
	return "SUSTAINED (no loss, no duplicates, p99 < 100ms)"
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
