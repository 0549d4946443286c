package store

import (
	"context"
	"fmt"
	"time"
)

// AuditEntry is one line of the admin's audit log: who did what, to what, when, to how many.
type AuditEntry struct {
	ID        int64
	CreatedAt time.Time
	ActorID   *int64 // nil once the actor's account is deleted
	ActorName string // kept so the entry still says who, even then
	Action    string // e.g. "messages.delete"
	Target    string // what it was done to, for people: "3 selected messages", "user bob"
	Count     int64  // how many rows or connections it touched
	Detail    string // the filter or other particulars
}

// TableName is the audit log's table.
func (AuditEntry) TableName() string { return "audit_log" }

// AuditPage is one keyset page of the audit log, newest first.
type AuditPage struct {
	Entries  []AuditEntry
	HasNewer bool // a newer page exists
	HasOlder bool // an older page exists
}

// AddAudit appends an entry to the audit log, filling its ID and (when zero) CreatedAt.
func (s *Store) AddAudit(ctx context.Context, e *AuditEntry) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	e.CreatedAt = dbTime(e.CreatedAt)
	if err := s.writer.WithContext(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("store: add audit entry: %w", err)
	}
	return nil
}

// ListAudit returns one keyset page of up to limit (<= 0: 50) audit entries, newest first;
// a non-empty action keeps only that action.
func (s *Store) ListAudit(ctx context.Context, action string, c Cursor, limit int) (AuditPage, error) {
	limit = clampLimit(limit, 50)
	where, args := "1 = 1", []any{}
	if action != "" {
		where, args = "action = ?", []any{action}
	}
	tail, targs, asc := keyset("id", c, limit)
	var list []AuditEntry
	if err := s.reader.WithContext(ctx).Raw("SELECT * FROM audit_log WHERE "+where+tail, append(args, targs...)...).
		Scan(&list).Error; err != nil {
		return AuditPage{}, fmt.Errorf("store: list audit: %w", err)
	}
	for i := range list {
		list[i].CreatedAt = list[i].CreatedAt.UTC()
	}
	probe := func(op string, id int64) (bool, error) {
		var ids []int64
		err := s.reader.WithContext(ctx).Raw("SELECT id FROM audit_log WHERE "+where+" AND id "+op+" ? LIMIT 1",
			append(append([]any{}, args...), id)...).Scan(&ids).Error
		return len(ids) > 0, err
	}
	entries, newer, older, err := pageEdges(list, func(e AuditEntry) int64 { return e.ID }, c, limit, asc, probe)
	if err != nil {
		return AuditPage{}, fmt.Errorf("store: list audit: %w", err)
	}
	return AuditPage{Entries: entries, HasNewer: newer, HasOlder: older}, nil
}
