package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"chat/models"
)

// MessageFilter selects messages for the staff admin; zero fields do not filter, and the
// fields that are set must all match.
type MessageFilter struct {
	RoomID int64     // in this room
	UserID int64     // by this author
	From   time.Time // created at or after From
	Until  time.Time // created before Until
	Text   string    // the body contains Text, ignoring case (ASCII only on SQLite)
	IDs    []int64   // one of these ids (a selection of rows); nil does not filter
	MaxID  int64     // ids up to MaxID: what a confirmation counted, not what came since
}

// MessagePage is one keyset page of messages, newest first, with Username and RoomName.
type MessagePage struct {
	Messages []models.Message
	HasNewer bool // a newer page exists
	HasOlder bool // an older page exists
}

// narrowRange is the longest date filter for which the database is steered to the created_at
// index. Rows come newest id first: for a day or a month, reading the range off that index
// and sorting its ids is cheapest; for a longer range, walking the ids down from the newest
// and checking the date soon fills a page, where sorting the whole range would not. Left to
// themselves both planners walk the ids for a month in the middle of a million rows, which
// reads every newer row first (SQLite 0.4 s, PostgreSQL 0.3 s).
const narrowRange = 31 * 24 * time.Hour

// filterSQL is a MessageFilter as SQL on messages aliased m.
type filterSQL struct {
	from  string // the FROM clause
	where string // the conditions (never empty)
	args  []any
	id    string // the id expression cursors compare
	order string // what rows are ordered by: id, or within one room seq, in the same order
	room  int64  // the room, when order is seq (id is then m.id)
}

// cmp returns the condition "id op v" and its arguments; ordered by seq, one room's
// (roomIDCond).
func (q filterSQL) cmp(op string, v int64) (string, []any) {
	if q.room != 0 {
		return roomIDCond(op, v, q.room)
	}
	return q.id + " " + op + " ?", []any{v}
}

// sql returns the filter as SQL. For date filters it also steers the planner (see
// narrowRange): only the plan changes, never the rows. SQLite takes INDEXED BY, or a unary
// plus that keeps an index off a column; PostgreSQL has no hints, but ordering by m.id + 0,
// which no index provides, takes the primary key's walk off the table.
func (f MessageFilter) sql(dialect string) filterSQL {
	q := filterSQL{from: "messages m", id: "m.id"}
	created := "m.created_at"
	narrow := false
	if !f.From.IsZero() || !f.Until.IsZero() {
		narrow = !f.From.IsZero() && !f.Until.IsZero() && f.Until.Sub(f.From) <= narrowRange
		switch {
		case dialect == DialectSQLite && narrow:
			q.from = "messages m INDEXED BY messages_created_at_idx"
		case dialect == DialectSQLite:
			created = "+m.created_at"
		case narrow:
			q.id = "(m.id + 0)"
		}
	}
	q.order = q.id
	if f.RoomID != 0 && f.UserID == 0 && f.IDs == nil && !narrow {
		// An author's rows come in id order off (user_id, id), a selection's off the primary
		// key; a room's in seq order only.
		q.order, q.room = "m.seq", f.RoomID
	}
	conds := []string{"1 = 1"}
	if f.RoomID != 0 {
		conds = append(conds, "m.room_id = ?")
		q.args = append(q.args, f.RoomID)
	}
	if f.UserID != 0 {
		conds = append(conds, "m.user_id = ?")
		q.args = append(q.args, f.UserID)
	}
	if !f.From.IsZero() {
		conds = append(conds, created+" >= ?")
		q.args = append(q.args, dbTime(f.From))
	}
	if !f.Until.IsZero() {
		conds = append(conds, created+" < ?")
		q.args = append(q.args, dbTime(f.Until))
	}
	if f.Text != "" {
		// SQLite's LIKE ignores ASCII case by default; PostgreSQL needs ILIKE for that.
		op := "LIKE"
		if dialect == DialectPostgres {
			op = "ILIKE"
		}
		conds = append(conds, "m.body "+op+` ? ESCAPE '\'`)
		q.args = append(q.args, "%"+escapeLike(f.Text)+"%")
	}
	if f.MaxID != 0 {
		cond, args := q.cmp("<=", f.MaxID)
		conds = append(conds, cond)
		q.args = append(q.args, args...)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			conds = append(conds, "1 = 0")
		} else {
			conds = append(conds, "m.id IN ?")
			q.args = append(q.args, f.IDs)
		}
	}
	q.where = strings.Join(conds, " AND ")
	return q
}

// escapeLike makes s match literally inside a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// AdminMessages returns one keyset page of up to limit (<= 0: 50) messages matching f,
// newest first.
func (s *Store) AdminMessages(ctx context.Context, f MessageFilter, c Cursor, limit int) (MessagePage, error) {
	limit = clampLimit(limit, 50)
	q := f.sql(s.dialect)
	tail, targs, asc := keysetBy(q.cmp, q.order, c, limit)
	order := " ORDER BY m.id DESC"
	if asc {
		order = " ORDER BY m.id ASC"
	}
	// The page's ids first, from messages alone (often straight off an index), then the
	// joins for those rows only: joining before the LIMIT would join every matching row.
	rows, err := s.queryMessages(ctx, messageSelect+"WHERE m.id IN (SELECT m.id FROM "+q.from+" WHERE "+q.where+tail+")"+order,
		append(slices.Clip(q.args), targs...)...)
	if err != nil {
		return MessagePage{}, fmt.Errorf("store: admin messages: %w", err)
	}
	probe := func(op string, from int64) (bool, error) {
		order := "ASC"
		if op == "<" {
			order = "DESC"
		}
		cond, cargs := q.cmp(op, from)
		var ids []int64
		err := s.reader.WithContext(ctx).Raw("SELECT m.id FROM "+q.from+" WHERE "+q.where+" AND "+cond+" ORDER BY "+q.order+" "+order+" LIMIT 1",
			append(slices.Clip(q.args), cargs...)...).Scan(&ids).Error
		return len(ids) > 0, err
	}
	msgs, newer, older, err := pageEdges(rows, func(m models.Message) int64 { return m.ID }, c, limit, asc, probe)
	if err != nil {
		return MessagePage{}, fmt.Errorf("store: admin messages: %w", err)
	}
	return MessagePage{Messages: msgs, HasNewer: newer, HasOlder: older}, nil
}

// AdminExportMessages returns up to limit (<= 0: 1000) messages matching f with ids below
// beforeID (0: from the newest), newest first: the chunks of a streamed export. Only what an
// export shows is read (ID, CreatedAt, EditedAt, Body, Username, RoomName): with SQLite each
// column is a cgo call, and a million rows make that count.
func (s *Store) AdminExportMessages(ctx context.Context, f MessageFilter, beforeID int64, limit int) ([]models.Message, error) {
	q := f.sql(s.dialect)
	where, args := q.where, slices.Clip(q.args)
	if beforeID > 0 {
		cond, cargs := q.cmp("<", beforeID)
		where += " AND " + cond
		args = append(args, cargs...)
	}
	query := `SELECT m.id, m.created_at, m.edited_at, m.body, u.username, r.name
		FROM messages m JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
		WHERE m.id IN (SELECT m.id FROM ` + q.from + " WHERE " + where + " ORDER BY " + q.order + " DESC LIMIT ?) ORDER BY m.id DESC"
	rows, err := s.reader.WithContext(ctx).Raw(query, append(args, clampLimit(limit, 1000))...).Rows()
	if err != nil {
		return nil, fmt.Errorf("store: export messages: %w", err)
	}
	defer rows.Close()
	msgs := make([]models.Message, 0, clampLimit(limit, 1000))
	for rows.Next() {
		var m models.Message
		var edited sql.NullTime
		if err := rows.Scan(&m.ID, &m.CreatedAt, &edited, &m.Body, &m.Username, &m.RoomName); err != nil {
			return nil, fmt.Errorf("store: export messages: %w", err)
		}
		m.CreatedAt = m.CreatedAt.UTC()
		if edited.Valid {
			t := edited.Time.UTC()
			m.EditedAt = &t
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: export messages: %w", err)
	}
	return msgs, nil
}

// AdminCountMessages counts the messages matching f.
//
// With no filter, or a room alone, it adds up the rooms' message_count instead of counting
// rows: every write to messages keeps that counter in the same transaction (SaveMessages,
// DeleteMessage, AdminDeleteMessages), and counting a million rows takes SQLite 50-100 ms.
func (s *Store) AdminCountMessages(ctx context.Context, f MessageFilter) (int64, error) {
	var n int64
	if f.UserID == 0 && f.From.IsZero() && f.Until.IsZero() && f.Text == "" && f.IDs == nil && f.MaxID == 0 {
		q, args := "SELECT COALESCE(SUM(message_count), 0) FROM rooms", []any{}
		if f.RoomID != 0 {
			q, args = "SELECT COALESCE(SUM(message_count), 0) FROM rooms WHERE id = ?", []any{f.RoomID}
		}
		if err := s.reader.WithContext(ctx).Raw(q, args...).Scan(&n).Error; err != nil {
			return 0, fmt.Errorf("store: count messages: %w", err)
		}
		return n, nil
	}
	q := f.sql(s.dialect)
	if err := s.reader.WithContext(ctx).Raw("SELECT count(*) FROM "+q.from+" WHERE "+q.where, q.args...).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count messages: %w", err)
	}
	return n, nil
}

// AdminMessageSpan returns the creation times of the oldest and newest message; ok is false
// when there are none. Both are read off the created_at index.
func (s *Store) AdminMessageSpan(ctx context.Context) (oldest, newest time.Time, ok bool, err error) {
	// Two ORDER BY ... LIMIT 1 queries rather than MIN and MAX: SQLite answers a lone MIN or
	// MAX from the index but would scan for both, and loses the column's DATETIME type.
	one := func(order string) (time.Time, bool, error) {
		var t sql.NullTime
		row := s.reader.WithContext(ctx).Raw("SELECT created_at FROM messages ORDER BY created_at " + order + " LIMIT 1").Row()
		if err := row.Scan(&t); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return time.Time{}, false, nil
			}
			return time.Time{}, false, err
		}
		return t.Time.UTC(), t.Valid, nil
	}
	if oldest, ok, err = one("ASC"); err != nil || !ok {
		return time.Time{}, time.Time{}, false, wrapErr("message span", err)
	}
	if newest, ok, err = one("DESC"); err != nil || !ok {
		return time.Time{}, time.Time{}, false, wrapErr("message span", err)
	}
	return oldest, newest, true, nil
}

// AdminDeleteMessages deletes up to limit (<= 0: 500) of the newest messages matching f in one
// transaction, keeps the rooms' message_count right, and returns what it deleted (ID, RoomID,
// RoomName), newest first. To delete everything that matches, call it until it returns fewer
// than limit.
func (s *Store) AdminDeleteMessages(ctx context.Context, f MessageFilter, limit int) ([]models.Message, error) {
	limit = clampLimit(limit, 500)
	q := f.sql(s.dialect)
	var deleted []models.Message
	err := s.writer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		deleted = deleted[:0]
		// Pick the messages, then lock their rooms in id order, then delete: rooms before
		// messages, as SaveMessages and DeleteMessage do, so none of them deadlock on
		// PostgreSQL. (SQLite has one writer.)
		var picked []models.Message
		if err := tx.Raw("SELECT m.id, m.room_id FROM "+q.from+" WHERE "+q.where+" ORDER BY "+q.order+" DESC LIMIT ?",
			append(slices.Clip(q.args), limit)...).Scan(&picked).Error; err != nil {
			return err
		}
		if len(picked) == 0 {
			return nil
		}
		ids := make([]int64, len(picked))
		var roomIDs []int64
		for i, m := range picked {
			ids[i] = m.ID
			if !slices.Contains(roomIDs, m.RoomID) {
				roomIDs = append(roomIDs, m.RoomID)
			}
		}
		slices.Sort(roomIDs)
		if s.dialect == DialectPostgres {
			if err := tx.Exec("SELECT id FROM rooms WHERE id IN ? ORDER BY id FOR UPDATE", roomIDs).Error; err != nil {
				return err
			}
		}
		rows, err := tx.Raw("DELETE FROM messages WHERE id IN ? RETURNING id, room_id", ids).Rows()
		if err != nil {
			return err
		}
		perRoom := map[int64]int64{}
		for rows.Next() {
			var m models.Message
			if err := rows.Scan(&m.ID, &m.RoomID); err != nil {
				rows.Close()
				return err
			}
			perRoom[m.RoomID]++
			deleted = append(deleted, m)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, roomID := range roomIDs {
			if n := perRoom[roomID]; n > 0 {
				if err := tx.Exec(decrementRoom, n, n, roomID).Error; err != nil {
					return err
				}
			}
		}
		var rooms []models.Room
		if err := tx.Raw("SELECT id, name FROM rooms WHERE id IN ?", roomIDs).Scan(&rooms).Error; err != nil {
			return err
		}
		names := make(map[int64]string, len(rooms))
		for _, r := range rooms {
			names[r.ID] = r.Name
		}
		for i := range deleted {
			deleted[i].RoomName = names[deleted[i].RoomID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: delete messages: %w", err)
	}
	// RETURNING gives no order; callers and tests read newest first.
	sortByIDDesc(deleted)
	return deleted, nil
}

func sortByIDDesc(msgs []models.Message) {
	slices.SortFunc(msgs, func(a, b models.Message) int { return cmp.Compare(b.ID, a.ID) })
}

func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
