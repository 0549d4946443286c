package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"

	"chat/models"
)

// queries holds SaveMessages' SQL, rebound for the dialect once at Open.
type queries struct {
	insertMessage   string
	messageByClient string
	claimSeqs       string // one room
	lastSeq         string // SQLite only: one room
	claimMany       string // SQLite only: many rooms
	lastSeqs        string // SQLite only: many rooms
	uncount         string
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
	// A claim takes numbers from rooms' sequences and counts the messages. Times are UTC
	// everywhere, so on SQLite comparing them as text orders them. SQLite runs the claims
	// without RETURNING, which buffers its output in a temporary table: SQLite has one
	// writer, so lastSeq and lastSeqs read the numbers first without a race.
	returningSeq, claimMany := "", ""
	if dialect == DialectPostgres {
		returningSeq = " RETURNING last_seq"
	} else {
		// Every room of a batch in one statement, from a JSON array of [room id, count,
		// newest time]: two statements per room paid database/sql's and cgo's toll each time.
		claimMany = `UPDATE rooms SET last_seq = rooms.last_seq + c.n, message_count = rooms.message_count + c.n,
			last_message_at = CASE WHEN rooms.last_message_at IS NULL OR rooms.last_message_at < c.at THEN c.at ELSE rooms.last_message_at END
			FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS n, json_extract(value, '$[2]') AS at
				FROM json_each(?)) AS c
			WHERE rooms.id = c.id`
	}
	return queries{
		// The conflict target names the partial unique index, so a resend with a known
		// (user_id, client_id) inserts nothing (no row, RowsAffected 0); an empty client_id
		// never conflicts. A clash on (room_id, seq) is an error, never skipped.
		insertMessage: rebind(dialect, `INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) WHERE client_id <> '' DO NOTHING`+returning),
		messageByClient: rebind(dialect, `SELECT id, seq, body, created_at FROM messages WHERE user_id = ? AND client_id = ?`),
		// On PostgreSQL the row lock the claim takes is the room's write lock until commit
		// (see claimSeqs).
		claimSeqs: rebind(dialect, `UPDATE rooms SET last_seq = last_seq + ?, message_count = message_count + ?,
			last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at < ? THEN ? ELSE last_message_at END
			WHERE id = ?`+returningSeq),
		lastSeq:   `SELECT last_seq FROM rooms WHERE id = ?`,
		claimMany: claimMany,
		lastSeqs:  `SELECT id, last_seq FROM rooms WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))`,
		uncount:   rebind(dialect, `UPDATE rooms SET message_count = message_count - ? WHERE id = ? AND message_count >= ?`),
		allocIDs:  `SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, $1)`,
		insertMany: `INSERT INTO messages (id, room_id, seq, user_id, body, client_id, created_at)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::timestamptz[])
			ON CONFLICT (user_id, client_id) WHERE client_id <> '' DO NOTHING
			RETURNING id`,
	}
}

// messageSelect reads messages with their author's name and room name.
const messageSelect = `SELECT m.id, m.room_id, m.seq, m.user_id, m.body, m.client_id, m.created_at, m.edited_at,
	u.username AS username, r.name AS room_name
	FROM messages m
	JOIN users u ON u.id = m.user_id
	JOIN rooms r ON r.id = m.room_id `

// roomClaim is one room's share of a batch: how many numbers it takes, and the newest time.
type roomClaim struct {
	roomID int64
	count  int64
	last   time.Time
	next   int64 // the next seq to hand out, once claimed
}

// saved is one message's outcome, applied to the caller's structs only after commit.
type saved struct {
	id        int64
	seq       int64
	createdAt time.Time
	body      string
	dup       bool
}

// SaveMessages stores batch in one write transaction (group commit), in slice order so ids
// and each room's seqs increase in that order, and fills each message's ID, Seq and CreatedAt
// (a zero CreatedAt becomes now). A message whose non-empty ClientID its user already sent
// (earlier, or earlier in this batch) is not stored again: it gets the existing row's ID, Seq,
// Body and CreatedAt and duplicate[i] is true (with ID 0 if that row was deleted meanwhile). Rooms' last_seq, message_count and
// last_message_at are updated once per room. On error nothing is stored and the messages are
// left untouched.
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
	if s.walRestartDue.CompareAndSwap(true, false) {
		s.restartWAL(ctx)
	}
	var out []saved
	var known []int // rows whose client id turned out to be stored before this call
	for attempt := 0; ; attempt++ {
		out = make([]saved, len(batch))
		err := s.saveTx(ctx, ps, batch, out, known, attempt < 2)
		var sb *storedBefore
		if errors.As(err, &sb) {
			known = append(known, sb.rows...)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: save messages: %w", err)
		}
		break
	}

	duplicate = make([]bool, len(batch))
	for i, m := range batch {
		o := out[i]
		m.ID, m.Seq = o.id, o.seq
		m.CreatedAt = o.createdAt
		if o.dup {
			m.Body = o.body
			duplicate[i] = true
		}
	}
	return duplicate, nil
}

// storedBefore is saveTx's answer, before anything commits, when rows' client ids were found
// stored already: they took seqs that would stay unused, a gap every page of the room would
// have to ask about. SaveMessages runs the batch again with those rows known. It is rare: a
// page resending a message whose ack it missed.
type storedBefore struct{ rows []int }

func (e *storedBefore) Error() string { return "store: client ids stored before this batch" }

// saveTx stores batch in one transaction. Rows in known are resends of stored messages; when
// the insert finds others and retry is set, it rolls back and returns *storedBefore.
func (s *Store) saveTx(ctx context.Context, ps *hotStmts, batch []*models.Message, out []saved, known []int, retry bool) (err error) {
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

	ts := now()
	created := make([]time.Time, len(batch))
	for i, m := range batch {
		created[i] = ts
		if !m.CreatedAt.IsZero() {
			created[i] = dbTime(m.CreatedAt)
		}
	}

	// A client id repeated within the batch is stored once; its later rows come back as
	// duplicates of the first (resend), and take no seq.
	send, resend := firstOfEachClientID(batch)
	if len(known) > 0 {
		send = slices.DeleteFunc(send, func(i int) bool { return slices.Contains(known, i) })
		resend = append(resend, known...)
	}

	claims, err := claimSeqs(sctx, tx, ps, batch, send, created)
	if err != nil {
		return err
	}
	seqs := make([]int64, len(send))
	for k, i := range send {
		c := claims[batch[i].RoomID]
		seqs[k] = c.next
		c.next++
	}

	// Insert; conflicted lists the rows that stored nothing because their client id was
	// stored before this batch.
	var conflicted []int
	if s.dialect == DialectPostgres && len(send) > 1 {
		conflicted, err = insertManyPostgres(sctx, tx, ps, batch, send, seqs, created, out)
	} else {
		conflicted, err = s.insertEach(ctx, sctx, tx, ps, batch, send, seqs, created, out)
	}
	if err != nil {
		return err
	}
	if len(conflicted) > 0 && retry {
		return &storedBefore{rows: conflicted}
	}
	if len(conflicted) > 0 {
		// A concurrent batch stored the same client id between two attempts: keep the gap.
		if err := uncount(sctx, tx.StmtContext(sctx, ps.uncount), batch, conflicted); err != nil {
			return err
		}
		resend = append(resend, conflicted...)
	}

	if len(resend) > 0 {
		// The stored row may be older, or from earlier in this batch (visible in this tx).
		byClient := tx.StmtContext(sctx, ps.messageByClient)
		for _, i := range resend {
			m := batch[i]
			o := saved{dup: true}
			err := byClient.QueryRowContext(sctx, m.UserID, m.ClientID).Scan(&o.id, &o.seq, &o.body, &o.createdAt)
			if errors.Is(err, sql.ErrNoRows) {
				out[i] = o // deleted since: a duplicate with no id, never stored again
				continue
			}
			if err != nil {
				return fmt.Errorf("message %d: find client id %q: %w", i, m.ClientID, err)
			}
			o.createdAt = o.createdAt.UTC()
			out[i] = o
		}
	}
	return tx.Commit()
}

// firstOfEachClientID splits a batch's indexes into the rows to insert and the later rows
// that repeat a (user, client id) of an earlier row.
func firstOfEachClientID(batch []*models.Message) (send, repeats []int) {
	type clientKey struct {
		userID   int64
		clientID string
	}
	var seen map[clientKey]bool
	send = make([]int, 0, len(batch))
	for i, m := range batch {
		if m.ClientID != "" {
			k := clientKey{m.UserID, m.ClientID}
			if seen[k] {
				repeats = append(repeats, i)
				continue
			}
			if seen == nil {
				seen = make(map[clientKey]bool)
			}
			seen[k] = true
		}
		send = append(send, i)
	}
	return send, repeats
}

// claimManyFrom is how many rooms a batch spans from which SQLite claims them all with one
// statement. The JSON and UPDATE ... FROM cost more than two plain statements per room for a
// few rooms and less for many (BenchmarkSaveMessages, one statement against per room: 0.67x
// for one message, 0.93x for 32 messages over 4 rooms, 0.98x over 8, 1.02x over 16, 1.10x
// for 128 over 100 and 1.14x for 64 over 1,000).
const claimManyFrom = 16

// claimSeqs takes each room's numbers for the rows in send and counts the messages. On
// PostgreSQL it claims room by room in id order, and the UPDATE's row lock is what keeps a
// room's messages in order: a concurrent batch for the same room waits for this one's commit,
// so a room's seqs and ids commit in increasing order and a reader never sees seq n+1 before
// seq n. Taking the locks in id order means two batches cannot deadlock. SQLite has one
// writer: there the claim reads last_seq first, for a few rooms room by room and for many all
// at once (claimAllSQLite).
func claimSeqs(ctx context.Context, tx *sql.Tx, ps *hotStmts, batch []*models.Message, send []int, created []time.Time) (map[int64]*roomClaim, error) {
	claims := make(map[int64]*roomClaim, 1)
	for _, i := range send {
		roomID, at := batch[i].RoomID, created[i]
		c := claims[roomID]
		if c == nil {
			c = &roomClaim{roomID: roomID}
			claims[roomID] = c
		}
		c.count++
		if at.After(c.last) {
			c.last = at
		}
	}
	if len(claims) == 0 {
		return claims, nil
	}
	if ps.claimMany != nil && len(claims) >= claimManyFrom {
		return claims, claimAllSQLite(ctx, tx.StmtContext(ctx, ps.claimMany), tx.StmtContext(ctx, ps.lastSeqs), claims)
	}
	claim := tx.StmtContext(ctx, ps.claimSeqs)
	var readSeq *sql.Stmt
	if ps.lastSeq != nil {
		readSeq = tx.StmtContext(ctx, ps.lastSeq)
	}
	for _, roomID := range slices.Sorted(maps.Keys(claims)) {
		c := claims[roomID]
		var last int64
		var err error
		if readSeq != nil {
			if err = readSeq.QueryRowContext(ctx, c.roomID).Scan(&last); err == nil {
				last += c.count
				_, err = claim.ExecContext(ctx, c.count, c.count, c.last, c.last, c.roomID)
			}
		} else {
			err = claim.QueryRowContext(ctx, c.count, c.count, c.last, c.last, c.roomID).Scan(&last)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("room %d: %w", c.roomID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("room %d: claim seqs: %w", c.roomID, err)
		}
		c.next = last - c.count + 1
	}
	return claims, nil
}

// claimAllSQLite claims every room in claims with two statements, whatever their number.
func claimAllSQLite(ctx context.Context, claim, readSeqs *sql.Stmt, claims map[int64]*roomClaim) error {
	list := make([]byte, 0, 2+56*len(claims)) // [[id,count,"time"],...]
	list = append(list, '[')
	for id, c := range claims {
		if len(list) > 1 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(append(list, '['), id, 10)
		list = strconv.AppendInt(append(list, ','), c.count, 10)
		// As go-sqlite3 binds a time.Time: the column's text compares with it.
		list = c.last.AppendFormat(append(list, ',', '"'), sqlite3.SQLiteTimestampFormats[0])
		list = append(list, '"', ']')
	}
	list = append(list, ']')
	arg := string(list)

	found, err := readLastSeqs(ctx, readSeqs, arg, claims)
	if err != nil {
		return fmt.Errorf("claim seqs: %w", err)
	}
	if found < len(claims) {
		for _, roomID := range slices.Sorted(maps.Keys(claims)) {
			if claims[roomID].next == 0 {
				return fmt.Errorf("room %d: %w", roomID, ErrNotFound)
			}
		}
	}
	if _, err := claim.ExecContext(ctx, arg); err != nil {
		return fmt.Errorf("claim seqs: %w", err)
	}
	return nil
}

// readLastSeqs sets next in each claim whose room exists and counts them.
func readLastSeqs(ctx context.Context, readSeqs *sql.Stmt, claimsJSON string, claims map[int64]*roomClaim) (found int, err error) {
	rows, err := readSeqs.QueryContext(ctx, claimsJSON)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, last int64
		if err := rows.Scan(&id, &last); err != nil {
			return 0, err
		}
		if c := claims[id]; c != nil && c.next == 0 {
			c.next = last + 1
			found++
		}
	}
	return found, rows.Err()
}

// uncount takes the rows that turned out to be stored already off their rooms' message_count.
func uncount(ctx context.Context, stmt *sql.Stmt, batch []*models.Message, rows []int) error {
	for _, i := range rows {
		if _, err := stmt.ExecContext(ctx, 1, batch[i].RoomID, 1); err != nil {
			return fmt.Errorf("room %d: uncount: %w", batch[i].RoomID, err)
		}
	}
	return nil
}

// insertEach inserts the rows in send one by one with one prepared statement (SQLite, where a
// statement is a function call; PostgreSQL for a single message).
func (s *Store) insertEach(ctx, sctx context.Context, tx *sql.Tx, ps *hotStmts, batch []*models.Message, send []int, seqs []int64, created []time.Time, out []saved) (conflicted []int, err error) {
	insert := tx.StmtContext(sctx, ps.insertMessage)
	for k, i := range send {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, ok, err := s.insertMessage(sctx, insert, batch[i], seqs[k], created[i])
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		if !ok {
			conflicted = append(conflicted, i)
			continue
		}
		out[i] = saved{id: id, seq: seqs[k], createdAt: created[i]}
	}
	return conflicted, nil
}

// insertManyPostgres inserts the rows in send in two round trips instead of one per row: it
// takes ids from the identity sequence (sorted, so they follow slice order), then inserts every
// row with its id in one INSERT ... SELECT FROM unnest(arrays). Rows whose client id was stored
// before come back in conflicted.
func insertManyPostgres(ctx context.Context, tx *sql.Tx, ps *hotStmts, batch []*models.Message, send []int, seqs []int64, created []time.Time, out []saved) (conflicted []int, err error) {
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
	rows, err = tx.StmtContext(ctx, ps.insertMany).QueryContext(ctx, ids, roomIDs, seqs, userIDs, bodies, clientIDs, times)
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
		if len(stored) != len(send) {
			if _, ok := slices.BinarySearch(stored, ids[k]); !ok {
				conflicted = append(conflicted, i) // its client id was stored before this batch
				continue
			}
		}
		out[i] = saved{id: ids[k], seq: seqs[k], createdAt: created[i]}
	}
	return conflicted, nil
}

// insertMessage runs the insert; ok is false when a (user_id, client_id) conflict stored nothing.
func (s *Store) insertMessage(ctx context.Context, insert *sql.Stmt, m *models.Message, seq int64, created time.Time) (id int64, ok bool, err error) {
	if s.dialect == DialectPostgres {
		err := insert.QueryRowContext(ctx, m.RoomID, seq, m.UserID, m.Body, m.ClientID, created).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := insert.ExecContext(ctx, m.RoomID, seq, m.UserID, m.Body, m.ClientID, created)
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
	insertMessage, messageByClient, claimSeqs, uncount *sql.Stmt
	lastSeq, claimMany, lastSeqs                       *sql.Stmt // SQLite only
	allocIDs, insertMany                               *sql.Stmt // PostgreSQL only
}

// hotStatements returns SaveMessages' statements, prepared on the writer pool on first use.
func (s *Store) hotStatements(ctx context.Context) (*hotStmts, error) {
	return s.hot.get(ctx, s.writerSQL, s.hotTargets)
}

func (s *Store) hotTargets(ps *hotStmts) []stmtTarget {
	targets := []stmtTarget{
		{&ps.insertMessage, s.q.insertMessage},
		{&ps.messageByClient, s.q.messageByClient},
		{&ps.claimSeqs, s.q.claimSeqs},
		{&ps.uncount, s.q.uncount},
	}
	if s.dialect == DialectPostgres {
		return append(targets, stmtTarget{&ps.allocIDs, s.q.allocIDs}, stmtTarget{&ps.insertMany, s.q.insertMany})
	}
	return append(targets, stmtTarget{&ps.lastSeq, s.q.lastSeq}, stmtTarget{&ps.claimMany, s.q.claimMany},
		stmtTarget{&ps.lastSeqs, s.q.lastSeqs})
}

// A room's messages are read in seq order, off the index (room_id, seq): within a room seq
// order is id order, because a message's seq is claimed under its room's row in the
// transaction that assigns its id. Reads that page by id take their condition from
// roomIDCond.

// maxSeq bounds nothing: no message has a seq this high.
const maxSeq int64 = 1<<63 - 1

// roomIDCond returns the condition "m.id op v" (op is <, <= or >) on messages m of room, and
// its arguments. The id decides the rows; a bound on seq added to it (seqBoundValue) lets
// (room_id, seq) seek to them, since no index has a room's ids.
func roomIDCond(op string, v, room int64) (string, []any) {
	bound, args := seqBoundValue(op, v, room)
	return "m.id " + op + " ? AND m.seq " + op + " " + bound, append([]any{v}, args...)
}

// seqBoundValue is the bound on seq for "m.id op v": v's own seq, or when v names no message
// of the room (deleted, another room's) the seq next to its neighbour's, v-1 below or v+1
// above: a page's cursor and the ids probed beside it are the commonest. Neither is ever
// tighter than the id condition. Without either the bound is open, and the read walks the
// room's index from its end: the same rows, only slower.
func seqBoundValue(op string, v, room int64) (string, []any) {
	near, step, open := v-1, "+ 1", maxSeq // at the ends of int64's range near wraps, and names no message
	if op == ">" {
		near, step, open = v+1, "- 1", 0
	}
	return fmt.Sprintf("COALESCE((SELECT b.seq FROM messages b WHERE b.id = ? AND b.room_id = ?),"+
		" (SELECT b.seq %s FROM messages b WHERE b.id = ? AND b.room_id = ?), %d)", step, open), []any{v, room, near, room}
}

// RecentMessages returns the newest limit (<= 0: 50) messages of a room, oldest first, with
// Username and RoomName filled.
func (s *Store) RecentMessages(ctx context.Context, roomID int64, limit int) ([]models.Message, error) {
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? ORDER BY m.seq DESC LIMIT ?`,
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
	cond, args := roomIDCond(">", afterID, roomID)
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? AND `+cond+` ORDER BY m.seq ASC LIMIT ?`,
		slices.Concat([]any{roomID}, args, []any{clampLimit(limit, 50)})...)
	if err != nil {
		return nil, fmt.Errorf("store: messages after: %w", err)
	}
	return msgs, nil
}

// MessagesAfterSeq returns up to limit (<= 0: 50) messages of a room with seq > afterSeq,
// oldest first, and through: every message of the room with a seq in (afterSeq, through] that
// exists is in msgs (the numbers in between were deleted). A page that asks for what follows
// its last contiguous seq thus learns both what it missed and how far it is now complete.
func (s *Store) MessagesAfterSeq(ctx context.Context, roomID, afterSeq int64, limit int) (msgs []models.Message, through int64, err error) {
	limit = clampLimit(limit, 50)
	// last_seq first: a room's messages commit in seq order, so every seq up to the value read
	// is committed and visible to the query that follows.
	if err := s.reader.WithContext(ctx).Raw("SELECT last_seq FROM rooms WHERE id = ?", roomID).
		Row().Scan(&through); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("store: messages after seq: %w", err)
	}
	msgs, err = s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?`,
		roomID, afterSeq, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("store: messages after seq: %w", err)
	}
	if n := len(msgs); n > 0 {
		if newest := msgs[n-1].Seq; n == limit || newest > through {
			through = newest // cut at the limit, or newer messages committed meanwhile
		}
	}
	return msgs, through, nil
}

// MessagesBefore returns the limit (<= 0: 50) newest messages of a room with id < beforeID,
// oldest first (history paging; an empty result means the first message was reached).
func (s *Store) MessagesBefore(ctx context.Context, roomID, beforeID int64, limit int) ([]models.Message, error) {
	cond, args := roomIDCond("<", beforeID, roomID)
	msgs, err := s.queryMessages(ctx, messageSelect+`WHERE m.room_id = ? AND `+cond+` ORDER BY m.seq DESC LIMIT ?`,
		slices.Concat([]any{roomID}, args, []any{clampLimit(limit, 50)})...)
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
		// The room first, as SaveMessages and the admin's bulk delete lock it: a resend of this
		// very message racing the delete then waits for it instead of deadlocking (PostgreSQL).
		if err := tx.Exec(decrementRoom, 1, 1, m.RoomID).Error; err != nil {
			return err
		}
		res := tx.Exec("DELETE FROM messages WHERE id = ?", id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound // deleted by a concurrent transaction (PostgreSQL); rolls back
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

// decrementRoom takes n messages off a room's count; it always writes the row, so it locks it.
const decrementRoom = `UPDATE rooms SET message_count = CASE WHEN message_count > ? THEN message_count - ? ELSE 0 END WHERE id = ?`

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
		if err := rows.Scan(&m.ID, &m.RoomID, &m.Seq, &m.UserID, &m.Body, &m.ClientID, &m.CreatedAt, &edited,
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
