package channels

import "encoding/binary"

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// appendFrame appends one unfragmented, unmasked server frame. The writer encodes frames
// itself so that everything queued for a connection goes out in a single write: a room's
// burst costs each member one system call instead of one per message.
func appendFrame(b []byte, opcode byte, payload []byte) []byte {
	b = append(b, 0x80|opcode)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// closePayload is a close frame's body: the code, then a reason cut to fit in 125 bytes.
// Code 1005 means "no status" and is never sent, so its payload is empty.
func closePayload(code int, reason string) []byte {
	if code == 1005 || code == 0 {
		return nil
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(b, reason...)
}
