package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"chat/models"
)

// queries holds SaveMessages' SQL, rebound for the dialect once at Open.
type queries struct {
	insertMessage   string
	messageByClient string
	bumpRoom        string
	lockRoom        string
	allocIDs        string // PostgreSQL only
	insertMany      string // PostgreSQL only
}

func newQueries(dialect string) queries {
	// SQLite reports the new id through LastInsertId, cheaper than RETURNING's result rows;
	// PostgreSQL has no LastInsertId.
	returning := ""
	if dialect == DialectPostgres {
		returning = " RETURNING id"
	}
	return queries{
		// The conflict target names the partial unique index, so a resend with a known
		// (user_id, client_id) inserts nothing (no row, RowsAffected 0); an empty client_id
		// never conflicts.
		insertMessage: rebind(dialect, `INSERT INTO messages (room_id, user_id, body, client_id, created_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) WHERE client_id <> '' DO NOTHING`+returning),
		messageByClient: rebind(dialect, `SELECT id, body, created_at FROM messages WHERE user_id = ? AND client_id = ?`),
		// Times are UTC everywhere, so on SQLite the text comparison orders them correctly.
		bumpRoom: rebind(dialect, `UPDATE rooms SET message_count = message_count + ?,
			last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at < ? THEN ? ELSE last_message_at END
			WHERE id = ?`),
		lockRoom: rebind(dialect, `SELECT pg_advisory_xact_lock(?, ?)`),
		allocIDs: `SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)`,
		insertMany: `INSERT INTO messages (id, room_id, user_id, body, client_id, created_at)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::timestamptz[])
			ON CONFLICT (user_id, client_id) WHERE client_id <> '' DO NOTHING
			RETURNING id`,
	}
}

// roomLockClass is the first key of the per-room advisory lock on PostgreSQL ("msgs").
const roomLockClass int32 = 0x6d736773

// messageSelect reads messages with their author's name and room name.
const messageSelect = `SELECT m.id, m.room_id, m.user_id, m.body, m.client_id, m.created_at, m.edited_at,
	u.username AS username, r.name AS room_name
	FROM messages m
	JOIN users u ON u.id = m.user_id
	JOIN rooms r ON r.id = m.room_id `

// roomBump accumulates one room's counter change within a batch.
type roomBump struct {
	roomID int64
	count  int64
	last   time.Time
}

// saved is one message's outcome, applied to the caller's structs only after commit.
type saved struct {
	id        int64
	createdAt time.Time
	body      string
	dup       bool
}

// SaveMessages stores batch in one write transaction (group commit), in slice order so ids
// increase in that order, and fills each message's ID and CreatedAt (a zero CreatedAt becomes
// now). A message whose non-empty ClientID its user already sent (earlier, or earlier in this
// batch) is not stored again: it gets the existing row's ID, Body and CreatedAt and
// duplicate[i] is true. Rooms' message_count and last_message_at are updated once per room.
// On error nothing is stored and the messages are left untouched.
func (s *Store) SaveMessages(ctx context.Context, batch []*models.Message) (duplicate []bool, err error) {
	if len(batch) == 0 {
		return nil, nil
	}
	// The hot path skips GORM: GORM's PrepareStmt re-prepares statements inside every
	// transaction, which cost a third of the time here. database/sql statements prepared once
	// on the writer pool are bound to each transaction with Tx.StmtContext, which reuses the
	// connection's prepared statement.
	ps, err := s.hotStatements(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: save messages: %w", err)
	}
	out := make([]saved, len(batch))
	if err := s.saveTx(ctx, ps, batch, out); err != nil {
		return nil, fmt.Errorf("store: save messages: %w", err)
	}

	duplicate = make([]bool, len(batch))
	for i, m := range batch {
		o := out[i]
		m.ID = o.id
		m.CreatedAt = o.createdAt
		if o.dup {
			m.Body = o.body
			duplicate[i] = true
		}
	}
	return duplicate, nil
}

func (s *Store) saveTx(ctx context.Context, ps *hotStmts, batch []*models.Message, out []saved) (err error) {
	tx, err := s.writerSQL.BeginTx(ctx, nil) // BEGIN IMMEDIATE on SQLite (_txlock)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	// The transaction is bound to ctx (database/sql rolls it back when ctx ends); the statements
	// get a context without Done so that go-sqlite3 does not start a watcher goroutine per
	// statement, which cost more than the insert. ctx is still checked between rows.
	sctx := context.WithoutCancel(ctx)

	if s.dialect == DialectPostgres {
		if err := lockRooms(ctx, tx.StmtContext(sctx, ps.lockRoom), batch); err != nil {
			return err
		}
	}

	ts := now()
	created := make([]time.Time, len(batch))
	for i, m := range batch {
		created[i] = ts
		if !m.CreatedAt.IsZero() {
			created[i] = dbTime(m.CreatedAt)
		}
	}

	// Insert; resend lists the rows that stored nothing because their client id is known.
	var resend []int
	if s.dialect == DialectPostgres && len(batch) > 1 {
		resend, err = insertManyPostgres(sctx, tx, ps, batch, created, out)
	} else {
		resend, err = s.insertEach(ctx, sctx, tx, ps, batch, created, out)
	}
	if err != nil {
		return err
	}

	if len(resend) > 0 {
		// The stored row may be older, or from earlier in this batch (visible in this tx).
		byClient := tx.StmtContext(sctx, ps.messageByClient)
		for _, i := range resend {
			m := batch[i]
			o := saved{dup: true}
			if err := byClient.QueryRowContext(sctx, m.UserID, m.ClientID).Scan(&o.id, &o.body, &o.createdAt); err != nil {
				return fmt.Errorf("message %d: find client id %q: %w", i, m.ClientID, err)
			}
			o.createdAt = o.createdAt.UTC()
			out[i] = o
		}
	}

	bumps := make([]roomBump, 0, 1)
	for i, m := range batch {
		if !out[i].dup {
			bumps = addBump(bumps, m.RoomID, created[i])
		}
	}
	if len(bumps) > 0 {
		bump := tx.StmtContext(sctx, ps.bumpRoom)
		for _, b := range bumps {
			if _, err := bump.ExecContext(sctx, b.count, b.last, b.last, b.roomID); err != nil {
				return fmt.Errorf("update room %d: %w", b.roomID, err)
			}
		}
	}
	return tx.Commit()
}

// insertEach inserts row by row with one prepared statement (SQLite, where a statement is a
// function call; PostgreSQL for a single message).
func (s *Store) insertEach(ctx, sctx context.Context, tx *sql.Tx, ps *hotStmts, batch []*models.Message, created []time.Time, out []saved) (resend []int, err error) {
	insert := tx.StmtContext(sctx, ps.insertMessage)
	for i, m := range batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, ok, err := s.insertMessage(sctx, insert, m, created[i])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		if !ok {
			resend = append(resend, i)
			continue
		}
		out[i] = saved{id: id, createdAt: created[i]}
	}
	return resend, nil
}

// insertManyPostgres inserts a batch in two round trips instead of one per row: it takes ids
// from the identity sequence (sorted, so they follow slice order), then inserts every row with
// its id in one INSERT ... SELECT FROM unnest(arrays). A client id repeated within the batch is
// sent once; its later rows, and rows whose client id was stored before, come back in resend.
func insertManyPostgres(ctx context.Context, tx *sql.Tx, ps *hotStmts, batch []*models.Message, created []time.Time, out []saved) (resend []int, err error) {
	type clientKey struct {
		userID   int64
		clientID string
	}
	var seen map[clientKey]bool
	send := make([]int, 0, len(batch))
	for i, m := range batch {
		if m.ClientID != "" {
			k := clientKey{m.UserID, m.ClientID}
			if seen[k] {
				resend = append(resend, i)
				continue
			}
			if seen == nil {
				seen = make(map[clientKey]bool)
			}
			seen[k] = true
		}
		send = append(send, i)
	}

	ids := make([]int64, 0, len(send))
	rows, err := tx.StmtContext(ctx, ps.allocIDs).QueryContext(ctx, len(send))
	if err != nil {
		return nil, fmt.Errorf("allocate ids: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("allocate ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("allocate ids: %w", err)
	}
	if len(ids) != len(send) {
		return nil, fmt.Errorf("allocate ids: got %d, want %d", len(ids), len(send))
	}
	slices.Sort(ids)

	roomIDs := make([]int64, len(send))
	userIDs := make([]int64, len(send))
	bodies := make([]string, len(send))
	clientIDs := make([]string, len(send))
	times := make([]time.Time, len(send))
	for k, i := range send {
		m := batch[i]
		roomIDs[k], userIDs[k], bodies[k], clientIDs[k], times[k] = m.RoomID, m.UserID, m.Body, m.ClientID, created[i]
	}
	rows, err = tx.StmtContext(ctx, ps.insertMany).QueryContext(ctx, ids, roomIDs, userIDs, bodies, clientIDs, times)
	if err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	stored := make([]int64, 0, len(send))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("insert: %w", err)
		}
		stored = append(stored, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	slices.Sort(stored)
	for k, i := range send {
		if len(stored) == len(send) {
			out[i] = saved{id: ids[k], createdAt: created[i]}
			continue
		}
		if _, ok := slices.BinarySearch(stored, ids[k]); !ok {
			resend = append(resend, i) // its client id was stored before this batch
			continue
		}
		out[i] = saved{id: ids[k], createdAt: created[i]}
	}
	return resend, nil
}

// insertMessage runs the insert; ok is false when a (user_id, client_id) conflict stored nothing.
func (s *Store) insertMessage(ctx context.Context, insert *sql.Stmt, m *models.Message, created time.Time) (id int64, ok bool, err error) {
	if s.dialect == DialectPostgres {
		err := insert.QueryRowContext(ctx, m.RoomID, m.UserID, m.Body, m.ClientID, created).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := insert.ExecContext(ctx, m.RoomID, m.UserID, m.Body, m.ClientID, created)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

// hotStmts are SaveMessages' statements, prepared once on the writer pool.
type hotStmts struct {
	insertMessage, messageByClient, bumpRoom *sql.Stmt
	lockRoom, allocIDs, insertMany           *sql.Stmt // PostgreSQL only
}

// hotStatements prepares the hot-path statements on first use (after Migrate: preparing needs
// the tables) and keeps them until Close.
func (s *Store) hotStatements(ctx context.Context) (*hotStmts, error) {
	if ps := s.hot.Load(); ps != nil {
		return ps, nil
	}
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	if ps := s.hot.Load(); ps != nil {
		return ps, nil
	}
	ps := &hotStmts{}
	type target struct {
		dst **sql.Stmt
		q   string
	}
	targets := []target{
		{&ps.insertMessage, s.q.insertMessage},
		{&ps.messageByClient, s.q.messageByClient},
		{&ps.bumpRoom, s.q.bumpRoom},
	}
	if s.dialect == DialectPostgres {
		targets = append(targets, target{&ps.lockRoom, s.q.lockRoom},
			target{&ps.allocIDs, s.q.allocIDs}, target{&ps.insertMany, s.q.insertMany})
	}
	for _, t := range targets {
		st, err := s.writerSQL.PrepareContext(ctx, t.q)
		if err != nil {
			ps.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*t.dst = st
	}
	s.hot.Store(ps)
	return ps, nil
}

func (ps *hotStmts) close() {
	for _, st := range []*sql.Stmt{ps.insertMessage, ps.messageByClient, ps.bumpRoom, ps.lockRoom, ps.allocIDs, ps.insertMany} {
		if st != nil {
			_ = st.Close()
		}
	}
}

// lockRooms takes a transaction-scoped advisory lock per room, in id order (no deadlocks).
// PostgreSQL hands out identity values at insert time, not at commit, so two concurrent batches
// could otherwise commit a room's ids out of order, and a reader catching up with
// MessagesAfter(lastSeenID) would skip the one that committed late. SQLite has one writer.
func lockRooms(ctx context.Context, lock *sql.Stmt, batch []*models.Message) error {
	ids := make([]int64, 0, 1)
	for _, m := range batch {
		if !slices.Contains(ids, m.RoomID) {
			ids = append(ids, m.RoomID)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		// Room ids past 2^31 share locks with lower ones: only extra waiting, never wrong.
		if _, err := lock.ExecContext(ctx, roomLockClass, int32(id)); err != nil {
			return fmt.Errorf("lock room %d: %w", id, err)
		}
	}
	return nil
}

func addBump(bumps []roomBump, roomID int64, at time.Time) []roomBump {
	for i := range bumps {
		if bumps[i].roomID == roomID {
			bumps[i].count++
			if at.After(bumps[i].last) {
				bumps[i].last = at
			}
			return bumps
		}
	}
	return append(bumps, roomBump{roomID: roomID, count: 1, last: at})
}

// RecentMessages returns the newest limit (<= 0: 50) messages of a room, oldest first, with
// Username and RoomName filled.
func (s *Store) RecentMessages(ctx context.Context, roomID int64, limit int) ([]models.Message, error) {
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? ORDER BY m.id DESC LIMIT ?`,
		roomID, clampLimit(limit, 50))
	if err != nil {
		return nil, fmt.Errorf("store: recent messages: %w", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

// MessagesAfter returns up to limit (<= 0: 50) messages of a room with id > afterID, oldest
// first (catch-up after a reconnect).
func (s *Store) MessagesAfter(ctx context.Context, roomID, afterID int64, limit int) ([]models.Message, error) {
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?`,
		roomID, afterID, clampLimit(limit, 50))
	if err != nil {
		return nil, fmt.Errorf("store: messages after: %w", err)
	}
	return msgs, nil
}

// MessagesBefore returns the limit (<= 0: 50) newest messages of a room with id < beforeID,
// oldest first (history paging; an empty result means the first message was reached).
func (s *Store) MessagesBefore(ctx context.Context, roomID, beforeID int64, limit int) ([]models.Message, error) {
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?`,
		roomID, beforeID, clampLimit(limit, 50))
	if err != nil {
		return nil, fmt.Errorf("store: messages before: %w", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

// MessageByID returns one message with Username and RoomName filled, or ErrNotFound.
func (s *Store) MessageByID(ctx context.Context, id int64) (*models.Message, error) {
	return s.messageByID(ctx, s.reader, id)
}

// UpdateMessageBody replaces a message's body and sets edited_at; ErrNotFound if it is gone.
func (s *Store) UpdateMessageBody(ctx context.Context, id int64, body string, editedAt time.Time) error {
	res := s.writer.WithContext(ctx).Exec("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?",
		body, dbTime(editedAt), id)
	if res.Error != nil {
		return fmt.Errorf("store: update message: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteMessage deletes a message, decrements its room's message_count and returns the deleted
// row (with Username and RoomName); ErrNotFound if it did not exist. The room's
// last_message_at is left alone: it records activity, not the newest surviving message.
func (s *Store) DeleteMessage(ctx context.Context, id int64) (*models.Message, error) {
	var msg *models.Message
	err := s.writer.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		m, err := s.messageByID(ctx, tx, id)
		if err != nil {
			return err
		}
		res := tx.Exec("DELETE FROM messages WHERE id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // deleted by a concurrent transaction (PostgreSQL)
		}
		if err := tx.Exec("UPDATE rooms SET message_count = message_count - 1 WHERE id = ? AND message_count > 0",
			m.RoomID).Error; err != nil {
			return err
		}
		msg = m
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: delete message: %w", err)
	}
	return msg, nil
}

func (s *Store) messageByID(ctx context.Context, db *gorm.DB, id int64) (*models.Message, error) {
	msgs, err := s.queryMessagesOn(ctx, db, messageSelect+`WHERE m.id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("store: find message: %w", err)
	}
	if len(msgs) == 0 {
		return nil, ErrNotFound
	}
	return &msgs[0], nil
}

func (s *Store) queryMessages(ctx context.Context, q string, args ...any) ([]models.Message, error) {
	return s.queryMessagesOn(ctx, s.reader, q, args...)
}

// queryMessagesOn runs a messageSelect query and scans it by hand (fixed column order), which
// is leaner than GORM's reflective Scan on the read path.
func (s *Store) queryMessagesOn(ctx context.Context, db *gorm.DB, q string, args ...any) ([]models.Message, error) {
	rows, err := db.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	msgs := make([]models.Message, 0, 16)
	for rows.Next() {
		var m models.Message
		var edited sql.NullTime
		if err := rows.Scan(&m.ID, &m.RoomID, &m.UserID, &m.Body, &m.ClientID, &m.CreatedAt, &edited,
			&m.Username, &m.RoomName); err != nil {
			return nil, err
		}
		m.CreatedAt = m.CreatedAt.UTC()
		if edited.Valid {
			t := edited.Time.UTC()
			m.EditedAt = &t
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}
