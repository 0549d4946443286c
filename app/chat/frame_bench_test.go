package chat

import (
	"encoding/json"
	"testing"
	"time"

	"chat/models"
)

var benchMessage = &models.Message{
	ID: 123456, RoomName: "lobby", Username: "alice", ClientID: "3f1c2a9e-8b7d-4e6f-a5b4-c3d2e1f0a9b8",
	Body:      "Morning! Did the release go out? <b>yes</b> & it's \"live\" since 9:40 — café ☕",
	CreatedAt: time.Date(2026, 11, 27, 9, 49, 0, 123456000, time.UTC),
}

// BenchmarkMessageFrame is the hand-written encoder the publisher runs once per broadcast.
func BenchmarkMessageFrame(b *testing.B) {
	b.ReportAllocs()
	var buf []byte
	for i := 0; i < b.N; i++ {
		buf = appendMessageFrame(buf[:0], benchMessage)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkMessageFrameJSON is encoding/json on the same frame, for comparison.
func BenchmarkMessageFrameJSON(b *testing.B) {
	b.ReportAllocs()
	type frame struct {
		Type      string    `json:"type"`
		ID        int64     `json:"id"`
		Room      string    `json:"room"`
		User      string    `json:"user"`
		Message   string    `json:"message"`
		CreatedAt time.Time `json:"created_at"`
		ClientID  string    `json:"client_id,omitempty"`
	}
	m := benchMessage
	for i := 0; i < b.N; i++ {
		out, _ := json.Marshal(frame{TypeMessage, m.ID, m.RoomName, m.Username, m.Body, m.CreatedAt, m.ClientID})
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkDecodeFrame is the parser of every client frame.
func BenchmarkDecodeFrame(b *testing.B) {
	b.ReportAllocs()
	text := []byte(`{"type":"chat.message","message":"Morning! Did the release go out?","client_id":"3f1c2a9e-8b7d-4e6f-a5b4-c3d2e1f0a9b8"}`)
	for i := 0; i < b.N; i++ {
		if _, bad := decodeFrame(text); bad != nil {
			b.Fatal(bad)
		}
	}
}
