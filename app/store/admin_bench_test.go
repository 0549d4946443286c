package store_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/migrations"
	"chat/models"
)

// The admin benchmark's history: a million messages in 20 rooms by 200 authors over one year.
const (
	benchMessages = 1_000_000
	benchRooms    = 20
	benchUsers    = 200
	benchBatch    = 1000
	// benchFillVersion changes when the fill below changes, so a stale cached file is rebuilt.
	benchFillVersion = 1
)

var benchStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// benchStep spreads the messages evenly over 2025.
var benchStep = time.Duration(int64(365*24*time.Hour) / benchMessages)

// BenchmarkAdminMillion times the admin's queries on a million-message SQLite file: list pages
// at both ends, each filter, text search, counts and a full CSV export. The file is filled once
// and cached under os.TempDir(), keyed by schema version, so reruns start at once.
//
// CHAT_BENCH_POSTGRES=1 runs it on a fresh PostgreSQL schema instead (filled every run, then
// dropped).
func BenchmarkAdminMillion(b *testing.B) {
	var s *store.Store
	if os.Getenv("CHAT_BENCH_POSTGRES") == "1" {
		url := storetest.PostgresURL(b)
		if err := fillMillion(url); err != nil {
			b.Fatal(err)
		}
		// Fresh statistics, as autovacuum would gather them soon after a bulk load.
		db, err := gorm.Open(postgres.Open(url), &gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Exec("ANALYZE").Error; err != nil {
			b.Fatal(err)
		}
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
		s = storetest.Open(b, url)
	} else {
		path := millionDB(b)
		if extra := os.Getenv("CHAT_BENCH_SQLITE_PARAMS"); extra != "" {
			path = "file:" + path + "?" + extra // e.g. _cache_size=-262144 to try a larger page cache
		}
		s = storetest.Open(b, path)
	}
	room, err := s.RoomByName(ctx, "room-7")
	if err != nil {
		b.Fatal(err)
	}
	author, err := s.UserByName(ctx, "user-42")
	if err != nil {
		b.Fatal(err)
	}
	june3 := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)
	deep := int64(1500) // the second-oldest page of the whole history
	page := func(f store.MessageFilter, c store.Cursor) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				p, err := s.AdminMessages(ctx, f, c, 50)
				if err != nil || len(p.Messages) == 0 {
					b.Fatalf("%d rows, %v", len(p.Messages), err)
				}
			}
		}
	}
	count := func(f store.MessageFilter) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if n, err := s.AdminCountMessages(ctx, f); err != nil || n == 0 {
					b.Fatalf("count %d, %v", n, err)
				}
			}
		}
	}
	b.Run("list/first", page(store.MessageFilter{}, store.Cursor{}))
	b.Run("list/deep", page(store.MessageFilter{}, store.Cursor{Before: deep}))
	b.Run("list/oldest", page(store.MessageFilter{}, store.Cursor{Forward: true}))
	b.Run("filter/room", page(store.MessageFilter{RoomID: room.ID}, store.Cursor{}))
	// A moderator's cursor names a message of the room. One that names none (deleted since)
	// seeks from its neighbour below, here the room's message just before it; with no
	// neighbour either it walks the room's index from the newest message (see seqBoundValue).
	roomDeep, err := s.MessagesBefore(ctx, room.ID, deep*20, 1)
	if err != nil || len(roomDeep) == 0 {
		b.Fatalf("no message of the room before %d: %v", deep*20, err)
	}
	b.Run("filter/room-deep", page(store.MessageFilter{RoomID: room.ID}, store.Cursor{Before: roomDeep[0].ID}))
	b.Run("filter/room-deep-gone", page(store.MessageFilter{RoomID: room.ID}, store.Cursor{Before: roomDeep[0].ID + 1}))
	b.Run("filter/author", page(store.MessageFilter{UserID: author.ID}, store.Cursor{}))
	b.Run("filter/day", page(store.MessageFilter{From: june3, Until: june3.AddDate(0, 0, 1)}, store.Cursor{}))
	b.Run("filter/month", page(store.MessageFilter{From: june3.AddDate(0, 0, -2), Until: june3.AddDate(0, 1, -2)}, store.Cursor{}))
	b.Run("filter/year", page(store.MessageFilter{From: benchStart, Until: benchStart.AddDate(1, 0, 0)}, store.Cursor{}))
	b.Run("filter/room+day", page(store.MessageFilter{RoomID: room.ID, From: june3, Until: june3.AddDate(0, 0, 1)}, store.Cursor{}))
	b.Run("search/common", page(store.MessageFilter{Text: "HELLO"}, store.Cursor{}))
	b.Run("search/rare", page(store.MessageFilter{Text: "needle"}, store.Cursor{}))
	b.Run("count/all", count(store.MessageFilter{}))
	b.Run("count/room", count(store.MessageFilter{RoomID: room.ID}))
	b.Run("count/day", count(store.MessageFilter{From: june3, Until: june3.AddDate(0, 0, 1)}))
	b.Run("count/search", count(store.MessageFilter{Text: "needle"}))
	b.Run("span", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok, err := s.AdminMessageSpan(ctx); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("export/all", func(b *testing.B) {
		for b.Loop() {
			n, err := benchExport(s, io.Discard)
			if err != nil || n != benchMessages {
				b.Fatalf("exported %d, %v", n, err)
			}
		}
	})
}

// benchExport writes every message as CSV the way the admin's export does: keyset chunks of
// 1000, never the whole result in memory.
func benchExport(s *store.Store, out io.Writer) (int, error) {
	w := csv.NewWriter(out)
	var before int64
	n := 0
	for {
		chunk, err := s.AdminExportMessages(ctx, store.MessageFilter{}, before, 1000)
		if err != nil {
			return n, err
		}
		for _, m := range chunk {
			if err := w.Write([]string{strconv.FormatInt(m.ID, 10), m.CreatedAt.Format(time.RFC3339Nano),
				m.RoomName, m.Username, m.Body}); err != nil {
				return n, err
			}
		}
		n += len(chunk)
		if len(chunk) < 1000 {
			break
		}
		before = chunk[len(chunk)-1].ID
	}
	w.Flush()
	return n, w.Error()
}

var millionOnce sync.Mutex

// millionDB returns the path of the filled SQLite file, building it on first use.
func millionDB(b *testing.B) string {
	b.Helper()
	millionOnce.Lock()
	defer millionOnce.Unlock()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("chat-admin-bench-schema%d-fill%d.db", migrations.Latest(), benchFillVersion))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("filling %s with %d messages (once)", path, benchMessages)
	start := time.Now()
	tmp := path + ".tmp"
	for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		_ = os.Remove(p)
	}
	if err := fillMillion(tmp); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled in %v", time.Since(start).Round(time.Millisecond))
	return path
}

func fillMillion(path string) error {
	s, err := store.Open(path)
	if err != nil {
		return err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return err
	}
	bg := context.Background()
	rooms := make([]*models.Room, benchRooms)
	for i := range rooms {
		if rooms[i], err = s.GetOrCreateRoom(bg, "room-"+strconv.Itoa(i)); err != nil {
			s.Close()
			return err
		}
	}
	users := make([]*models.User, benchUsers)
	for i := range users {
		if users[i], err = s.CreateUser(bg, "user-"+strconv.Itoa(i), "x"); err != nil {
			s.Close()
			return err
		}
	}
	words := []string{"hello there", "how is everyone", "lunch?", "see you tomorrow", "good morning", "ok"}
	msgs := make([]models.Message, benchBatch)
	batch := make([]*models.Message, benchBatch)
	for done := 0; done < benchMessages; done += benchBatch {
		for j := range msgs {
			i := done + j
			body := words[i%len(words)] + " #" + strconv.Itoa(i)
			if i%10000 == 0 {
				body += " needle"
			}
			msgs[j] = models.Message{RoomID: rooms[(i*7)%benchRooms].ID, UserID: users[(i*13)%benchUsers].ID,
				Body: body, CreatedAt: benchStart.Add(time.Duration(i) * benchStep)}
			batch[j] = &msgs[j]
		}
		if _, err := s.SaveMessages(bg, batch); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}
