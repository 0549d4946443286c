package chat

import (
	"unicode/utf8"
)

// decodeFrameFast parses the frames the page and the load test send without reflection:
// one flat object of known keys, each at most once, spelled exactly, with strings free of
// escapes and integers as plain digits. It reports false for anything else (an escape, an
// unknown or repeated key, null, a fraction, invalid UTF-8, bad syntax), and decodeFrame
// then leaves the frame to encoding/json, which decides both the result and the error. So it
// only ever accepts frames that encoding/json decodes the same way, which FuzzDecodeFrame
// checks; on a busy server it saves about 2 µs of CPU per message.
func decodeFrameFast(text []byte) (*inbound, bool) {
	in := &inbound{}
	p := frameParser{b: text}
	p.space()
	if !p.byte('{') {
		return nil, false
	}
	p.space()
	if p.byte('}') {
		return in, p.end()
	}
	var seen uint8
	for {
		p.space()
		key, ok := p.plainString()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.byte(':') {
			return nil, false
		}
		p.space()
		field := fieldIndex(key)
		if field < 0 || seen&(1<<field) != 0 {
			return nil, false
		}
		seen |= 1 << field
		switch field {
		case fieldType, fieldMessage, fieldClientID:
			s, ok := p.plainString()
			if !ok {
				return nil, false
			}
			switch field {
			case fieldType:
				in.Type = frameType(s)
			case fieldMessage:
				m := string(s)
				in.Message = &m
			default:
				in.ClientID = string(s)
			}
		default:
			n, ok := p.integer()
			if !ok {
				return nil, false
			}
			switch field {
			case fieldID:
				in.ID = n
			case fieldBefore:
				in.Before = n
			default:
				in.SinceSeq = &n
			}
		}
		p.space()
		if p.byte('}') {
			return in, p.end()
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// The fields of inbound, by their JSON keys.
const (
	fieldType = iota
	fieldMessage
	fieldClientID
	fieldID
	fieldBefore
	fieldSinceSeq
)

func fieldIndex(key []byte) int {
	switch string(key) {
	case "type":
		return fieldType
	case "message":
		return fieldMessage
	case "client_id":
		return fieldClientID
	case "id":
		return fieldID
	case "before":
		return fieldBefore
	case "since_seq":
		return fieldSinceSeq
	}
	return -1
}

// frameType returns the type's constant, so that the usual types cost no allocation.
func frameType(b []byte) string {
	switch string(b) {
	case TypeMessage:
		return TypeMessage
	case TypeHistory:
		return TypeHistory
	case TypeTyping:
		return TypeTyping
	case TypeRead:
		return TypeRead
	case TypeCatchup:
		return TypeCatchup
	case TypeEdit:
		return TypeEdit
	case TypeDelete:
		return TypeDelete
	}
	return string(b)
}

// frameParser reads JSON tokens from b, from i on.
type frameParser struct {
	b []byte
	i int
}

func (p *frameParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (p *frameParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *frameParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// plainString reads a string with no escapes and no control characters, in valid UTF-8,
// and returns its bytes (a view of b).
func (p *frameParser) plainString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// integer reads an integer as JSON writes one (no leading zeros, no fraction or exponent)
// that fits an int64.
func (p *frameParser) integer() (int64, bool) {
	neg := p.byte('-')
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start == 18 { // 19 digits or more may not fit: leave them to encoding/json
			return 0, false
		}
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
