package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
)

// preparedSet is a struct S of statements prepared together on first use (after Migrate:
// preparing needs the tables) and kept until Close. SaveMessages' statements are one set,
// the lookups another.
type preparedSet[S any] struct {
	ready atomic.Pointer[S]
	mu    sync.Mutex
}

// stmtTarget is one statement of a set: the field that keeps it, and its SQL.
type stmtTarget struct {
	dst **sql.Stmt
	q   string
}

// get returns the set, preparing it on db the first time; targets names a set's statements.
func (p *preparedSet[S]) get(ctx context.Context, db *sql.DB, targets func(*S) []stmtTarget) (*S, error) {
	if set := p.ready.Load(); set != nil {
		return set, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if set := p.ready.Load(); set != nil {
		return set, nil
	}
	set := new(S)
	ts := targets(set)
	for i, t := range ts {
		st, err := db.PrepareContext(ctx, t.q)
		if err != nil {
			closeTargets(ts[:i])
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*t.dst = st
	}
	p.ready.Store(set)
	return set, nil
}

// close closes the set's statements if it was prepared; targets as for get.
func (p *preparedSet[S]) close(targets func(*S) []stmtTarget) {
	if set := p.ready.Swap(nil); set != nil {
		closeTargets(targets(set))
	}
}

func closeTargets(ts []stmtTarget) {
	for _, t := range ts {
		_ = (*t.dst).Close()
	}
}
