package store_test

import (
	"fmt"
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
// random (version 4) or time-ordered (version 7) UUIDs.
func BenchmarkSaveMessages(b *testing.B) {
	for _, backend := range storetest.Backends {
		for _, c := range []struct {
			size, rooms int
			ids         string
		}{{1, 1, ""}, {16, 1, ""}, {128, 1, ""}, {128, 64, ""}, {128, 64, "random"}, {128, 64, "time"}} {
			name := fmt.Sprintf("%s/batch=%d/rooms=%d", backend.Name, c.size, c.rooms)
			if c.ids != "" {
				name += "/ids=" + c.ids
			}
			b.Run(name, func(b *testing.B) {
				s := storetest.Open(b, backend.URL(b))
				benchSave(b, s, c.size, c.rooms, c.ids)
			})
		}
	}
}

func benchSave(b *testing.B, s *store.Store, size, roomCount int, ids string) {
	u := mustUser(b, s, "bench")
	rooms := make([]*models.Room, roomCount)
	for i := range rooms {
		rooms[i] = mustRoom(b, s, fmt.Sprint("bench-", i))
	}
	batch := make([]*models.Message, size)
	msgs := make([]models.Message, size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			msgs[i] = models.Message{RoomID: rooms[i%roomCount].ID, UserID: u.ID, Body: "hello, world"}
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
}
