package channels

import (
	"errors"
	"fmt"

	"chat/app/layer"
)

// Consumer handles one websocket connection, like a Channels WebsocketConsumer.
type Consumer interface {
	// Connect runs before the upgrade. Returning an error denies the handshake: a *DenyError
	// chooses the HTTP status, any other error gives 403. Frames sent here are written first.
	Connect(c *Conn) error
	// Receive handles one text frame. Bad input should be answered with an error frame and
	// nil; a returned error closes the connection with 1011. text is the reader's buffer,
	// reused once Receive returns: copy what must outlive the call.
	Receive(c *Conn, text []byte) error
	// Disconnect runs once with the close code: after both goroutines have ended, or, for a
	// connection whose socket never came, once that is certain.
	Disconnect(c *Conn, code int)
}

// Factory makes a consumer for a new connection.
type Factory func(scope *Scope) Consumer

// HandlerFunc handles a channel-layer event of one type. It runs on the connection's writer
// goroutine, one event at a time in the order they arrived; it answers with Forward, whose
// frames keep that order (a frame from Send goes out ahead of them in the same write).
type HandlerFunc func(c *Conn, ev *layer.Event) error

// DenyError refuses a handshake with an HTTP status and a message.
type DenyError struct {
	Status  int
	Message string
}

func (e *DenyError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Deny returns a DenyError.
func Deny(status int, message string) error { return &DenyError{Status: status, Message: message} }

// ErrNoHandler is returned for an event whose type the consumer registered no handler for;
// as in Channels, that is a programming error, and the connection is closed with 1011.
var ErrNoHandler = errors.New("channels: no handler for event type")

// Close codes the runtime uses (RFC 6455 section 7.4.1).
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupported     = 1003
	CloseNoStatus        = 1005
	CloseAbnormal        = 1006
	CloseInvalidData     = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseInternalError   = 1011
	CloseTryAgainLater   = 1013
)
