package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"chat/models"
)

// Frame types of the wire protocol (docs/protocol.md).
const (
	TypeMessage  = "chat.message"
	TypeEdit     = "chat.edit"
	TypeDelete   = "chat.delete"
	TypeHistory  = "history"
	TypeTyping   = "typing"
	TypeRead     = "read"
	TypePresence = "presence"
	TypeError    = "error"
	TypeAck      = "ack"
	TypeCatchup  = "catchup"
	TypeReload   = "reload"
	// TypeConnClose is a layer event, never sent to clients: it closes the receiving connection.
	TypeConnClose = "conn.close"
)

// Error codes sent in error frames.
const (
	CodeInvalidJSON     = "invalid_json"
	CodeInvalidFrame    = "invalid_frame"
	CodeMissingMessage  = "missing_message"
	CodeEmptyMessage    = "empty_message"
	CodeMessageTooLong  = "message_too_long"
	CodeUnknownType     = "unknown_type"
	CodeInvalidClientID = "invalid_client_id"
	CodeStoreFailed     = "store_failed"
	CodeRateLimited     = "rate_limited"
	CodeNotFound        = "not_found"
	CodeForbidden       = "forbidden"
	CodeEditWindow      = "edit_window_closed"
	CodeInvalidID       = "invalid_id"
	CodeInvalidSeq      = "invalid_seq"
)

// maxClientIDLen bounds the client message id a frame may carry.
const maxClientIDLen = 64

// inbound is every field a client frame may carry; which are used depends on Type.
type inbound struct {
	Type     string  `json:"type"`
	Message  *string `json:"message"`
	ClientID string  `json:"client_id"`
	ID       int64   `json:"id"`        // chat.edit, chat.delete, read
	Before   int64   `json:"before"`    // history
	SinceSeq *int64  `json:"since_seq"` // catchup
}

// decodeFrame parses a client frame, or says what is wrong with it. It is the only parser of
// client frames, and it is fuzzed. The frames pages send take decodeFrameFast; encoding/json
// decides the rest.
func decodeFrame(text []byte) (*inbound, *errorFrame) {
	if in, ok := decodeFrameFast(text); ok {
		return in, nil
	}
	in := &inbound{}
	if err := json.Unmarshal(text, in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				e := newError(CodeInvalidFrame, "a frame is a JSON object", "")
				return nil, &e
			}
			e := newError(CodeInvalidFrame, fmt.Sprintf("field %q has the wrong type", truncate(typeErr.Field, 40)), "")
			return nil, &e
		}
		e := newError(CodeInvalidJSON, "the frame is not valid JSON", "")
		return nil, &e
	}
	return in, nil
}

// errorFrame is the server's answer to bad input; the connection stays open.
type errorFrame struct {
	Type         string `json:"type"`
	Code         string `json:"code"`
	Detail       string `json:"detail"`
	ClientID     string `json:"client_id,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	// InReplyTo names the request type for errors a client handles quietly ("catchup").
	InReplyTo string `json:"in_reply_to,omitempty"`
}

// appendAckFrame encodes the frame that confirms a stored message to its sender:
// {"type":"ack","client_id":…,"id":…,"seq":…,"duplicate":…}. Every message with a client id
// gets one, so it is written by hand like the message frame.
func appendAckFrame(b []byte, clientID string, id, seq int64, duplicate bool) []byte {
	b = append(b, `{"type":"ack","client_id":`...)
	b = appendJSONString(b, clientID)
	b = append(b, `,"id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, duplicate)
	return append(b, '}')
}

// catchupFrame ends a replay: count messages were sent, and the page now has every message
// of the room up to seq LastSeq (LastID is the newest id replayed, or the since it asked with).
type catchupFrame struct {
	Type    string `json:"type"`
	Count   int    `json:"count"`
	LastID  int64  `json:"last_id"`
	LastSeq int64  `json:"last_seq"`
}

func newError(code, detail, clientID string) errorFrame {
	return errorFrame{Type: TypeError, Code: code, Detail: detail, ClientID: clientID}
}

// appendMessageFrame encodes a stored message as the chat.message frame every member gets.
// It is written by hand because it runs once per broadcast on the hot path and the field
// order is fixed: {"type","id","seq","room","user","message","created_at"[,"client_id"][,"edited_at"]}.
func appendMessageFrame(b []byte, m *models.Message) []byte {
	b = append(b, `{"type":"chat.message","id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	b = append(b, `,"room":`...)
	b = appendJSONString(b, m.RoomName)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, m.Username)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, m.Body)
	b = append(b, `,"created_at":"`...)
	b = m.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if m.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = appendJSONString(b, m.ClientID)
	}
	if m.EditedAt != nil {
		b = append(b, `,"edited_at":"`...)
		b = m.EditedAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendHistoryFrame encodes a page of older messages: {"type":"history","messages":[...],"has_more":b}.
func appendHistoryFrame(b []byte, msgs []models.Message, hasMore bool) []byte {
	b = append(b, `{"type":"history","messages":[`...)
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessageFrame(b, &msgs[i])
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaping what encoding/json escapes
// (including <, > and & so a frame is safe even if someone pastes it into HTML).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// CleanText prepares message text for storage: line breaks normalised to \n, control and
// bidirectional-override characters removed (tabs and line breaks kept), spaces trimmed.
func CleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r) || isBidiControl(r) || r == '\uFEFF':
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(clean)
}

// validClientID accepts printable ASCII ids up to maxClientIDLen, such as UUIDs.
func validClientID(s string) bool {
	if len(s) > maxClientIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// mustJSON encodes frames built from the server's own types, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
