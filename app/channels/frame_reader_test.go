package channels

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// clientFrame encodes one frame as a client must send it: masked with key.
func clientFrame(fin bool, opcode byte, payload []byte, key [4]byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// chunkReader hands out its bytes at most size at a time, then io.EOF.
type chunkReader struct {
	data []byte
	size int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.size)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// readAll parses every message and control frame of src, as the reader loop does, into
// "opcode:payload" lines, and the error it ended on (io.EOF when the bytes simply ran out).
func readAll(src io.Reader, limit int64) ([]string, error) {
	r := &frameReader{limit: limit}
	var got []string
	for {
		for {
			op, payload, ok, err := r.nextMessage()
			if err != nil {
				return got, err
			}
			if !ok {
				break
			}
			got = append(got, fmt.Sprintf("%d:%s", op, payload))
		}
		if _, err := r.fill(src); err != nil {
			r.release()
			return got, err
		}
	}
}

// Frames are parsed the same whether they arrive together, byte by byte or in odd pieces:
// short and 16- and 64-bit lengths, a fragmented message with a ping between its parts, and
// a message longer than the pooled buffer.
func TestFrameReaderSplitReads(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	long := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: a 64-bit length
	mid := bytes.Repeat([]byte("m"), 300)            // a 16-bit length
	var stream []byte
	stream = append(stream, clientFrame(true, opText, []byte(`{"message":"hi"}`), key)...)
	stream = append(stream, clientFrame(false, opText, []byte("frag"), key)...)
	stream = append(stream, clientFrame(true, opPing, []byte("p"), key)...)
	stream = append(stream, clientFrame(false, opContinuation, []byte("men"), key)...)
	stream = append(stream, clientFrame(true, opContinuation, []byte("ted"), key)...)
	stream = append(stream, clientFrame(true, opText, mid, key)...)
	stream = append(stream, clientFrame(true, opText, long, key)...)
	stream = append(stream, clientFrame(true, opText, nil, key)...)
	stream = append(stream, clientFrame(true, opClose, []byte{0x03, 0xe8, 'o', 'k'}, key)...)
	want := []string{"1:" + `{"message":"hi"}`, "9:p", "1:fragmented", "1:" + string(mid),
		"1:" + string(long), "1:", "8:\x03\xe8ok"}
	for _, size := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		got, err := readAll(&chunkReader{append([]byte(nil), stream...), size}, 1<<20)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("chunks of %d: ended on %v, want io.EOF", size, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunks of %d: got %d messages %.200q, want %.200q", size, len(got), got, want)
		}
	}
}

// The limit applies to a whole message, fragments together, and is checked from the header:
// a frame that declares too much is refused before its payload is waited for.
func TestFrameReaderLimit(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for name, stream := range map[string][]byte{
		"one frame":         clientFrame(true, opText, make([]byte, 101), key),
		"two fragments":     append(clientFrame(false, opText, make([]byte, 60), key), clientFrame(true, opContinuation, make([]byte, 41), key)...),
		"only a header":     clientFrame(true, opText, make([]byte, 70000), key)[:14],
		"2^62 bytes header": {0x81, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
	} {
		_, err := readAll(&chunkReader{stream, 1 << 20}, 100)
		var pe *protocolError
		if !errors.As(err, &pe) || pe.code != CloseTooBig {
			t.Errorf("%s: ended on %v, want a 1009", name, err)
		}
	}
	if got, err := readAll(&chunkReader{clientFrame(true, opText, make([]byte, 100), key), 7}, 100); len(got) != 1 || !errors.Is(err, io.EOF) {
		t.Errorf("a message of exactly the limit: %d messages, %v", len(got), err)
	}
}

// The buffer goes back to its pool only once every byte in it is parsed.
func TestFrameReaderReleasesOnlyWhenEmpty(t *testing.T) {
	frame := clientFrame(true, opText, []byte("hello"), [4]byte{9, 9, 9, 9})
	r := &frameReader{limit: 100}
	if _, err := r.fill(&chunkReader{frame[:4], 100}); err != nil {
		t.Fatal(err)
	}
	r.release()
	if r.buf == nil || r.empty() {
		t.Fatal("a buffer holding half a frame was released")
	}
	if _, err := r.fill(&chunkReader{frame[4:], 100}); err != nil {
		t.Fatal(err)
	}
	if op, payload, ok, err := r.nextMessage(); !ok || err != nil || op != opText || string(payload) != "hello" {
		t.Fatalf("got %d %q %v %v", op, payload, ok, err)
	}
	r.release()
	if r.buf != nil || r.pooled != nil {
		t.Fatal("an emptied buffer was kept")
	}
}

// Whatever the bytes, the reader never panics, never returns a message over the limit, and
// parses the same messages however the bytes are split.
func FuzzFrameReader(f *testing.F) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	f.Add(clientFrame(true, opText, []byte(`{"message":"hi"}`), key), uint8(3))
	f.Add(append(clientFrame(false, opText, []byte("a"), key), clientFrame(true, opContinuation, []byte("b"), key)...), uint8(1))
	f.Add(clientFrame(true, opClose, []byte{0x03, 0xe8}, key), uint8(2))
	f.Add([]byte{0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint8(5))
	f.Add(clientFrame(true, opText, make([]byte, 300), key), uint8(64))
	f.Fuzz(func(t *testing.T, stream []byte, size uint8) {
		const limit = 512
		whole, errWhole := readAll(&chunkReader{append([]byte(nil), stream...), 1 << 20}, limit)
		split, errSplit := readAll(&chunkReader{append([]byte(nil), stream...), int(size%64) + 1}, limit)
		if fmt.Sprint(whole) != fmt.Sprint(split) || fmt.Sprint(errWhole) != fmt.Sprint(errSplit) {
			t.Fatalf("whole: %q %v; split: %q %v", whole, errWhole, split, errSplit)
		}
		for _, m := range whole {
			if len(m) > limit+len("10:") {
				t.Fatalf("a message of about %d bytes passed a limit of %d", len(m), limit)
			}
		}
	})
}

// BenchmarkFrameReader parses a chat message's frame of about 200 bytes, as the reader does
// for each one a client sends: one read, the header, the unmasking.
func BenchmarkFrameReader(b *testing.B) {
	frame := clientFrame(true, opText, bytes.Repeat([]byte(`{"message":"hello"}`), 10), [4]byte{1, 2, 3, 4})
	src := &chunkReader{size: len(frame)}
	r := &frameReader{limit: 1 << 16}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		src.data = frame
		if _, err := r.fill(src); err != nil {
			b.Fatal(err)
		}
		if _, _, ok, err := r.nextMessage(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// A header alone does not make the reader hold the length it declares: the buffer grows,
// twice as long each time it fills, with the bytes that arrive.
func TestFrameReaderGrowsWithWhatArrives(t *testing.T) {
	frame := clientFrame(true, opText, bytes.Repeat([]byte("x"), 60000), [4]byte{1, 2, 3, 4})
	r := &frameReader{limit: 1 << 16}
	src := &chunkReader{frame[:14], 1 << 20}
	for range 3 {
		_, _ = r.fill(src) // the header, then the end of the bytes
		if _, _, ok, err := r.nextMessage(); ok || err != nil {
			t.Fatalf("a header alone: %v %v", ok, err)
		}
	}
	if cap(r.buf) > frameBufferSize {
		t.Fatalf("holds %d bytes for a header that declared 60,000", cap(r.buf))
	}
	src.data = frame[14 : 14+5000]
	for len(src.data) > 0 {
		_, _ = r.fill(src)
	}
	if cap(r.buf) > 2*(14+5000) {
		t.Fatalf("holds %d bytes after 5,014 arrived", cap(r.buf))
	}
	src.data = frame[14+5000:]
	for {
		if op, payload, ok, err := r.nextMessage(); ok || err != nil {
			if err != nil || op != opText || len(payload) != 60000 {
				t.Fatalf("got %d, %d bytes, %v", op, len(payload), err)
			}
			break
		}
		if _, err := r.fill(src); err != nil {
			t.Fatal(err)
		}
	}
}
