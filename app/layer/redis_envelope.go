package layer

import (
	"encoding/binary"
	"errors"
	"strings"
)

// The envelope is what a Redis layer PUBLISHes. It is a small binary format rather than JSON
// so that Event.Data, already JSON, travels as raw bytes: no escaping, no base64, and the
// receiver gets it byte-identical. Layout:
//
//	byte     version (envVersion)
//	byte     kind (kindGroup, kindSend, ...)
//	string   origin node id
//	string   target: the group (kindGroup, kindResync), the channel (kindSend, kindAdd,
//	         kindDiscard, kindClose) or a ping token (kindPing)
//	then, for kindGroup and kindSend:
//	string   event type
//	varint   Seq
//	varint   expiresAt (unix nanoseconds, the sender's clock)
//	bytes    Data: everything up to the end of the payload
//	or, for kindAdd and kindDiscard:
//	string   group
//
// A string is a uvarint length followed by its bytes.
const envVersion = 1

// Envelope kinds.
const (
	kindGroup   = 'g' // an event for the local members of the group it was published to
	kindSend    = 's' // an event for one channel on the receiving node
	kindAdd     = 'a' // GroupAdd of a channel that lives on the receiving node
	kindDiscard = 'd' // GroupDiscard of a channel that lives on the receiving node
	kindClose   = 'c' // CloseChannel of a channel that lives on the receiving node
	kindPing    = 'p' // a node's health ping to itself
	kindResync  = 'r' // the group's members missed events of the origin node: resynchronise
)

var errBadEnvelope = errors.New("layer: malformed envelope")

// envelope is a decoded message; ev is set for event kinds, group for kindAdd/kindDiscard.
type envelope struct {
	kind   byte
	origin string
	target string
	group  string
	ev     *Event
}

// appendEnvelope encodes into dst (usually a pooled buffer) and returns the extended slice.
func appendEnvelope(dst []byte, kind byte, origin, target, group string, ev *Event) []byte {
	dst = append(dst, envVersion, kind)
	dst = appendString(dst, origin)
	dst = appendString(dst, target)
	switch kind {
	case kindGroup, kindSend:
		dst = appendString(dst, ev.Type)
		dst = binary.AppendVarint(dst, ev.Seq)
		dst = binary.AppendVarint(dst, ev.expiresAt)
		dst = append(dst, ev.Data...)
	case kindAdd, kindDiscard:
		dst = appendString(dst, group)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeEnvelope parses a payload as go-redis hands it over (a string). It copies Data once
// and clones what outlives the message, so nothing kept pins the payload in memory.
func decodeEnvelope(p string) (envelope, error) {
	var env envelope
	if len(p) < 2 || p[0] != envVersion {
		return env, errBadEnvelope
	}
	env.kind = p[1]
	d := decoder{s: p, off: 2}
	env.origin = d.string()
	env.target = d.string()
	switch env.kind {
	case kindGroup, kindSend:
		typ := strings.Clone(d.string())
		seq := d.varint()
		exp := d.varint()
		if d.err != nil {
			return env, d.err
		}
		env.ev = &Event{Type: typ, Seq: seq, expiresAt: exp, Data: []byte(p[d.off:])}
	case kindAdd, kindDiscard:
		env.group = d.string()
	case kindClose, kindPing, kindResync:
	default:
		return env, errBadEnvelope
	}
	if d.err != nil {
		return env, d.err
	}
	if env.kind == kindAdd {
		// GroupAdd keeps the names as map keys: do not let them pin the payload.
		env.target, env.group = strings.Clone(env.target), strings.Clone(env.group)
	}
	return env, nil
}

// decoder reads the envelope's fields; the first error sticks and zero values follow it.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	for shift := uint(0); ; shift += 7 {
		if d.off >= len(d.s) || shift > 63 {
			d.err = errBadEnvelope
			return 0
		}
		b := d.s[d.off]
		d.off++
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.s)-d.off) {
		d.err = errBadEnvelope
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
