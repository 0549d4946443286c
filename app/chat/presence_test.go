package chat

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"chat/app/layer"
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
	p.quietFor("room.small", presenceDelay)
	if _, ok := p.quiet["room.small"]; ok {
		t.Error("a small room was paced beyond the usual delay")
	}
	before := time.Now()
	p.quietFor("room.big", 2*time.Second)
	if until := p.quiet["room.big"]; until.Before(before.Add(2 * time.Second)) {
		t.Errorf("after a 2s gap the next announcement may go at %v, want 2s on", until.Sub(before))
	}
}

// A join that comes while a big room's list has just gone out (or is being read) is announced
// after the room's gap, not after the usual delay; the first join of a room waits only that.
func TestPresencePacedJoinWaitsItsTurn(t *testing.T) {
	ctx := context.Background()
	l := layer.NewMemory(layer.MemoryOptions{})
	defer l.Close()
	// Two connections at 1s each: a gap of 2s after every list.
	a := &App{Layer: l, Log: slog.New(slog.DiscardHandler), Limits: Limits{PresencePace: time.Second}}
	defer a.Close()
	box, err := l.NewChannel(ctx, "specific")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{box.Name, "specific.other"} {
		if err := l.GroupAdd(ctx, "room.big", ch); err != nil {
			t.Fatal(err)
		}
		if err := l.PresenceAdd(ctx, "room.big", ch, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(d time.Duration) bool {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := box.Next(ctx)
		return err == nil
	}
	a.announcePresence("big", "room.big")
	if !wait(5 * presenceDelay) {
		t.Fatal("the room's first list never came")
	}
	a.announcePresence("big", "room.big")
	if wait(3 * presenceDelay) {
		t.Error("the join's announcement went out after the usual delay, not the gap")
	}
	if !wait(3 * time.Second) {
		t.Error("the join's announcement never came after the gap")
	}
}
