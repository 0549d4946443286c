package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"chat/app/apptest"
)

// Stream reads one websocket in the background and keeps every frame it receives, so a test
// can send steadily from another goroutine and look at what arrived, and how the socket
// ended (close code, or an error without a close frame).
type Stream struct {
	Socket *apptest.Socket

	wmu sync.Mutex // one writer at a time

	mu      sync.Mutex
	frames  []apptest.Frame
	changed chan struct{} // closed and replaced at every change
	ended   bool
	code    int   // close code the server sent; 0 when none
	err     error // why reading stopped
	done    chan struct{}
}

// Watch starts reading s in the background until the connection ends.
func Watch(s *apptest.Socket) *Stream {
	st := &Stream{Socket: s, changed: make(chan struct{}), done: make(chan struct{})}
	_ = s.Conn.SetReadDeadline(time.Time{})
	go st.read()
	return st
}

func (st *Stream) read() {
	defer close(st.done)
	for {
		_, data, err := st.Socket.Conn.ReadMessage()
		if err != nil {
			st.mu.Lock()
			st.ended, st.err = true, err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				st.code = ce.Code
			}
			st.notifyLocked()
			st.mu.Unlock()
			return
		}
		var f apptest.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			f = apptest.Frame{"type": "!invalid", "raw": string(data)}
		}
		st.mu.Lock()
		st.frames = append(st.frames, f)
		st.notifyLocked()
		st.mu.Unlock()
	}
}

func (st *Stream) notifyLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// Send writes v as a JSON text frame; safe from several goroutines.
func (st *Stream) Send(v any) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	_ = st.Socket.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return st.Socket.Conn.WriteJSON(v)
}

// Frames is a copy of every frame received so far.
func (st *Stream) Frames() []apptest.Frame {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]apptest.Frame(nil), st.frames...)
}

// OfType is the frames of one type received so far, in order.
func (st *Stream) OfType(typ string) []apptest.Frame {
	var out []apptest.Frame
	for _, f := range st.Frames() {
		if f.Type() == typ {
			out = append(out, f)
		}
	}
	return out
}

// Ended reports whether reading stopped, with the close code the server sent (0 if none)
// and the read error.
func (st *Stream) Ended() (ended bool, code int, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ended, st.code, st.err
}

// Done is closed when reading stopped.
func (st *Stream) Done() <-chan struct{} { return st.done }

// WaitFor waits at most d until cond holds for the frames received so far (and whether the
// socket ended); it reports whether it did.
func (st *Stream) WaitFor(d time.Duration, cond func(frames []apptest.Frame, ended bool) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		st.mu.Lock()
		ok := cond(st.frames, st.ended)
		ch := st.changed
		st.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			st.mu.Lock()
			defer st.mu.Unlock()
			return cond(st.frames, st.ended)
		}
	}
}

// WaitType waits at most d for a frame of type typ that satisfies match (nil: any), counting
// from frame index from; it returns the frame and its index.
func (st *Stream) WaitType(d time.Duration, from int, typ string, match func(apptest.Frame) bool) (apptest.Frame, int, error) {
	var got apptest.Frame
	idx := -1
	ok := st.WaitFor(d, func(frames []apptest.Frame, _ bool) bool {
		for i := from; i < len(frames); i++ {
			if frames[i].Type() == typ && (match == nil || match(frames[i])) {
				got, idx = frames[i], i
				return true
			}
		}
		return false
	})
	if !ok {
		ended, code, err := st.Ended()
		return nil, -1, fmt.Errorf("no matching %q frame within %v (socket ended %v, code %d, err %v)", typ, d, ended, code, err)
	}
	return got, idx, nil
}

// Close closes the connection and waits for the reader to stop.
func (st *Stream) Close() {
	st.wmu.Lock()
	_ = st.Socket.Conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	st.wmu.Unlock()
	select {
	case <-st.done:
	case <-time.After(2 * time.Second):
	}
	st.Socket.Conn.Close()
	<-st.done
}

// IDs returns the ids of frames, in order.
func IDs(frames []apptest.Frame) []int64 {
	out := make([]int64, 0, len(frames))
	for _, f := range frames {
		out = append(out, f.ID())
	}
	return out
}

// CheckOrdered returns an error unless ids strictly increase (in order, no duplicate).
func CheckOrdered(ids []int64) error {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return fmt.Errorf("id %d follows %d at position %d", ids[i], ids[i-1], i)
		}
	}
	return nil
}

// CatchUp opens room's websocket with ?since=since and returns the messages the server
// replays before its catchup frame (the database's view), then closes the socket. It fails
// the test on a reload frame: raise CATCHUP_LIMIT for tests with many messages.
func CatchUp(t testing.TB, c *apptest.Client, room string, since int64) []apptest.Frame {
	t.Helper()
	s := c.MustDial(room, fmt.Sprintf("since=%d", since))
	defer s.Conn.Close()
	var msgs []apptest.Frame
	deadline := time.Now().Add(15 * time.Second)
	for {
		f, err := s.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("catch-up of %q since %d: %v (after %d messages)", room, since, err, len(msgs))
		}
		switch f.Type() {
		case "chat.message":
			msgs = append(msgs, f)
		case "catchup":
			return msgs
		case "reload":
			t.Fatalf("catch-up of %q since %d: the server asked for a reload (CATCHUP_LIMIT)", room, since)
		}
	}
}
