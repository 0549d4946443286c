package channels

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"
)

// protocolError is a peer's breach of RFC 6455, or a message over the limit: the connection
// is closed with code and reason.
type protocolError struct {
	code   int
	reason string
}

func (e *protocolError) Error() string {
	return "websocket: " + e.reason + " (" + strconv.Itoa(e.code) + ")"
}

func protocolErr(reason string) error { return &protocolError{CloseProtocolError, reason} }

// frame is one frame read off the socket, unmasked. Its payload points into the reader's
// buffer: it is valid until the reader next reads.
type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// frameReader takes the client's frames apart from the bytes read off the socket. The
// websocket library's reader is not used because it keeps a buffer of its own for life and
// cannot tell whether it holds bytes not yet parsed; this one lends its buffer from a pool
// and hands it back whenever every byte is parsed, so a parked socket holds none, and a
// reader that knows its buffer is empty may stop reading and leave the socket to the poller.
type frameReader struct {
	buf    []byte  // read bytes; buf[off:] are not parsed yet
	off    int     // how far buf is parsed
	pooled *[]byte // buf's entry in frameBuffers, nil when buf is nil or not pooled
	need   int     // bytes the unfinished frame at off needs in all, 0 when unknown
	limit  int64   // the most bytes one message may carry

	msg   []byte // a fragmented message's payload so far
	msgOp byte   // its opcode, or 0 when no fragmented message is open
}

// frameBufferSize is the size of a pooled read buffer: a chat frame of a few hundred bytes,
// or several queued together, arrive in one read. A bigger frame gets a buffer of its size.
const frameBufferSize = 2048

var frameBuffers = sync.Pool{New: func() any { b := make([]byte, frameBufferSize); return &b }}

// empty reports whether every byte read has been parsed.
func (r *frameReader) empty() bool { return r.off == len(r.buf) }

// release hands the buffer back if every byte in it has been parsed.
func (r *frameReader) release() {
	if !r.empty() {
		return
	}
	if r.pooled != nil {
		*r.pooled = r.buf[:cap(r.buf)]
		frameBuffers.Put(r.pooled)
	}
	r.buf, r.off, r.pooled = nil, 0, nil
}

// drop hands the buffer back whatever it holds: the connection has ended.
func (r *frameReader) drop() {
	r.off, r.msg, r.msgOp = len(r.buf), nil, 0
	r.release()
}

// fill reads once from src into the buffer, making room when it is full: the unparsed bytes
// move to the front, and a frame longer than the buffer gets one of its own, twice as long
// each time it fills up, so what a peer makes the server hold follows what it has sent, not
// what a frame's header declares. short reports a read that did not fill the room it had,
// so the source had nothing more at that moment.
func (r *frameReader) fill(src io.Reader) (short bool, err error) {
	if r.empty() {
		if r.pooled == nil {
			r.buf = nil // a long frame's own buffer, or none: take a pooled one
		}
		r.buf, r.off = r.buf[:0], 0
	}
	if r.buf == nil {
		r.pooled = frameBuffers.Get().(*[]byte)
		r.buf = (*r.pooled)[:0]
	}
	if len(r.buf) == cap(r.buf) && r.off > 0 {
		r.buf = r.buf[:copy(r.buf, r.buf[r.off:])]
		r.off = 0
	}
	if len(r.buf) == cap(r.buf) {
		grown := make([]byte, len(r.buf), min(2*cap(r.buf), max(r.need, len(r.buf)+1)))
		copy(grown, r.buf)
		if r.pooled != nil {
			frameBuffers.Put(r.pooled)
			r.pooled = nil
		}
		r.buf = grown
	}
	room := cap(r.buf) - len(r.buf)
	n, err := src.Read(r.buf[len(r.buf):cap(r.buf)])
	r.buf = r.buf[:len(r.buf)+n]
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil // parse what came first; the next read reports the end again
	}
	return n < room, err
}

// next parses the frame at the front of the buffer. ok is false when it has not all arrived.
func (r *frameReader) next() (f frame, ok bool, err error) {
	b := r.buf[r.off:]
	if len(b) < 2 {
		r.need = 2
		return f, false, nil
	}
	f.fin, f.opcode = b[0]&0x80 != 0, b[0]&0x0F
	if b[0]&0x70 != 0 {
		return f, false, protocolErr("reserved bits set without an extension")
	}
	masked, size := b[1]&0x80 != 0, int64(b[1]&0x7F)
	header := 2
	switch size {
	case 126:
		header = 4
	case 127:
		header = 10
	}
	if masked {
		header += 4
	}
	if len(b) < header {
		r.need = header
		return f, false, nil
	}
	switch size {
	case 126:
		size = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return f, false, protocolErr("frame length has its high bit set")
		}
		size = int64(u)
	}
	if err := r.check(f, masked, size); err != nil {
		return f, false, err
	}
	if int64(len(b)-header) < size {
		r.need = header + int(size)
		return f, false, nil
	}
	r.need = 0
	f.payload = b[header : header+int(size)]
	unmask(f.payload, b[header-4:header])
	r.off += header + int(size)
	return f, true, nil
}

// check applies the rules a frame's header must keep before its payload is waited for.
func (r *frameReader) check(f frame, masked bool, size int64) error {
	if !masked {
		return protocolErr("a client's frames must be masked")
	}
	switch f.opcode {
	case opClose, opPing, opPong:
		if !f.fin {
			return protocolErr("fragmented control frame")
		}
		if size > 125 {
			return protocolErr("control frame longer than 125 bytes")
		}
		return nil
	case opText, opBinary:
		if r.msgOp != 0 {
			return protocolErr("a new message inside a fragmented one")
		}
	case opContinuation:
		if r.msgOp == 0 {
			return protocolErr("continuation frame without a message")
		}
	default:
		return protocolErr("unknown opcode " + strconv.Itoa(int(f.opcode)))
	}
	if size > r.limit-int64(len(r.msg)) {
		return &protocolError{CloseTooBig, "message too big"}
	}
	return nil
}

// unmask applies the 4-byte key to p in place.
func unmask(p, key []byte) {
	k := binary.LittleEndian.Uint32(key)
	k64 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// nextMessage returns the next whole message or control frame from what the buffer holds:
// ok is false when more bytes must be read first. A message of one frame points into the
// buffer; the parts of a fragmented one are copied together.
func (r *frameReader) nextMessage() (opcode byte, payload []byte, ok bool, err error) {
	for {
		f, ok, err := r.next()
		if !ok || err != nil {
			return 0, nil, false, err
		}
		switch {
		case f.opcode >= opClose:
			return f.opcode, f.payload, true, nil
		case f.opcode != opContinuation && f.fin:
			return f.opcode, f.payload, true, nil
		case f.opcode != opContinuation:
			r.msgOp = f.opcode
			r.msg = append(r.msg[:0], f.payload...)
		default:
			r.msg = append(r.msg, f.payload...)
			if f.fin {
				opcode, payload = r.msgOp, r.msg
				r.msgOp, r.msg = 0, nil
				return opcode, payload, true, nil
			}
		}
	}
}

// parseClose reads a close frame's code and checks its reason (RFC 6455 section 7.4): an
// empty payload is 1005, no status.
func parseClose(payload []byte) (int, error) {
	switch {
	case len(payload) == 0:
		return CloseNoStatus, nil
	case len(payload) == 1:
		return 0, protocolErr("close frame of one byte")
	}
	code := int(binary.BigEndian.Uint16(payload))
	if !validReceivedCloseCode(code) {
		return 0, protocolErr("bad close code " + strconv.Itoa(code))
	}
	if !utf8.Valid(payload[2:]) {
		return 0, &protocolError{CloseInvalidData, "close reason is not UTF-8"}
	}
	return code, nil
}

// validReceivedCloseCode reports whether a peer may send code (RFC 6455 section 7.4 and the
// IANA registry): 1004-1006 and 1015 are never sent, and 1016-2999 are not assigned.
func validReceivedCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}
