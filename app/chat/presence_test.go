package chat

import (
	"testing"
	"time"
)

// Small rooms announce after the usual short delay; a big room's announcements are spaced so
// they reach at most 5,000 connections a second (PRESENCE_PACE's default), and never more
// than maxPresenceGap apart; a pace of 0 turns pacing off.
func TestPresencePacing(t *testing.T) {
	for _, tt := range []struct {
		conns int
		want  time.Duration
	}{
		{0, presenceDelay}, {10, presenceDelay}, {500, presenceDelay},
		{1_000, 200 * time.Millisecond}, {10_000, 2 * time.Second}, {1_000_000, maxPresenceGap},
	} {
		if got := presenceGap(tt.conns, 200*time.Microsecond); got != tt.want {
			t.Errorf("presenceGap(%d) = %v, want %v", tt.conns, got, tt.want)
		}
	}
	if got := presenceGap(10_000, 0); got != presenceDelay {
		t.Errorf("with no pacing, presenceGap(10000) = %v, want %v", got, presenceDelay)
	}

	var p presenceBoard
	flushed := make(chan time.Time, 1)
	flush := func() { flushed <- time.Now() }
	p.paceAfter("room.small", presenceDelay, flush)
	if _, ok := p.quiet["room.small"]; ok {
		t.Error("a small room was paced beyond the usual delay")
	}
	before := time.Now()
	p.paceAfter("room.big", 2*time.Second, flush)
	if until := p.quiet["room.big"]; until.Before(before.Add(2 * time.Second)) {
		t.Errorf("after a 2s gap the next announcement may go at %v, want 2s on", until.Sub(before))
	}

	// A join scheduled while the big room's list was being read is moved to the gap: its
	// timer no longer fires after the usual delay.
	p.pending, p.timers = map[string]string{"room.race": "race"}, map[string]*time.Timer{}
	p.timers["room.race"] = time.AfterFunc(presenceDelay, flush)
	p.paceAfter("room.race", 2*time.Second, flush)
	select {
	case <-flushed:
		t.Error("the join's announcement went out after the usual delay, not the gap")
	case <-time.After(3 * presenceDelay):
	}
	p.timers["room.race"].Stop()
}
