package store_test

import (
	"fmt"
	"testing"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

// BenchmarkSaveMessages measures the group-commit write path: one op is one SaveMessages call
// (one transaction) of batch messages; msgs/s is the resulting throughput.
func BenchmarkSaveMessages(b *testing.B) {
	for _, backend := range storetest.Backends {
		for _, size := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/batch=%d", backend.Name, size), func(b *testing.B) {
				s := storetest.Open(b, backend.URL(b))
				benchSave(b, s, size)
			})
		}
	}
}

func benchSave(b *testing.B, s *store.Store, size int) {
	u := mustUser(b, s, "bench")
	r := mustRoom(b, s, "bench")
	batch := make([]*models.Message, size)
	msgs := make([]models.Message, size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			msgs[i] = models.Message{RoomID: r.ID, UserID: u.ID, Body: "hello, world"}
			batch[i] = &msgs[i]
		}
		if _, err := s.SaveMessages(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
}
