package store_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// BenchmarkSaveMessages measures the group-commit write path: one op is one SaveMessages call
// (one transaction) of batch messages into one room, or spread over many (each room's counters
// and seqs are claimed once per batch); msgs/s is the resulting throughput. The ids=uuid cases
// carry a client_id per message, as the page sends, which the deduplicating index stores too:
// random (version 4) or time-ordered (version 7) UUIDs. The users= cases spread a batch over
// as many senders as the load test's B (100 rooms, one sender each) and C (1,000 rooms, two
// senders each) have, into rooms that hold 50 messages each already, and on SQLite report
// the bytes written per message (written-B/msg: the WAL and the checkpoints' copies), which
// is what the per-user and per-room indexes cost.
func BenchmarkSaveMessages(b *testing.B) {
	for _, backend := range storetest.Backends {
		for _, c := range []struct {
			size, rooms, users int
			ids                string
		}{{1, 1, 1, ""}, {16, 1, 1, ""}, {128, 1, 1, ""}, {128, 64, 1, ""}, {128, 64, 1, "random"}, {128, 64, 1, "time"},
			{128, 100, 100, "time"}, {64, 1000, 2000, "time"}} {
			name := fmt.Sprintf("%s/batch=%d/rooms=%d", backend.Name, c.size, c.rooms)
			if c.users > 1 {
				name += fmt.Sprintf("/users=%d", c.users)
			}
			if c.ids != "" {
				name += "/ids=" + c.ids
			}
			b.Run(name, func(b *testing.B) {
				s := storetest.Open(b, backend.URL(b))
				benchSave(b, s, c.size, c.rooms, c.users, c.ids, backend.Name == "sqlite")
			})
		}
	}
}

func benchSave(b *testing.B, s *store.Store, size, roomCount, userCount int, ids string, reportWrites bool) {
	users := make([]*models.User, userCount)
	for i := range users {
		users[i] = mustUser(b, s, fmt.Sprint("bench-", i))
	}
	rooms := make([]*models.Room, roomCount)
	for i := range rooms {
		rooms[i] = mustRoom(b, s, fmt.Sprint("bench-", i))
	}
	if userCount > 1 {
		prefill(b, s, rooms, users, 50)
	}
	batch := make([]*models.Message, size)
	msgs := make([]models.Message, size)
	n := 0 // messages so far: each batch takes the next rooms and senders in turn
	written := writtenBytes()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			msgs[i] = models.Message{RoomID: rooms[n%roomCount].ID, UserID: users[n%userCount].ID, Body: "hello, world"}
			n++
			switch ids {
			case "random":
				msgs[i].ClientID = uuid.NewString()
			case "time":
				msgs[i].ClientID = uuid.Must(uuid.NewV7()).String()
			}
			batch[i] = &msgs[i]
		}
		if _, err := s.SaveMessages(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
	if after := writtenBytes(); reportWrites && written >= 0 && after >= written {
		b.ReportMetric(float64(after-written)/float64(b.N*size), "written-B/msg")
	}
}

// prefill stores perRoom messages in every room, so that the timed batches land in indexes of
// a steady size rather than in a new database whose few pages every batch shares.
func prefill(b *testing.B, s *store.Store, rooms []*models.Room, users []*models.User, perRoom int) {
	b.Helper()
	batch := make([]*models.Message, 0, 256)
	for n := range perRoom * len(rooms) {
		batch = append(batch, &models.Message{RoomID: rooms[n%len(rooms)].ID, UserID: users[n%len(users)].ID,
			Body: "hello, world", ClientID: uuid.Must(uuid.NewV7()).String()})
		if len(batch) == cap(batch) || n == perRoom*len(rooms)-1 {
			if _, err := s.SaveMessages(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// writtenBytes is what this process has handed to write system calls so far (wchar of
// /proc/self/io, which counts writes to any file system, tmpfs included), or -1 where there
// is no such file.
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "wchar:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
