//go:build !linux

package channels

import "net"

// pollerSupported reports whether parked readers can be woken on this system: elsewhere
// than Linux every reader keeps its goroutine.
const pollerSupported = false

// poller is a stand-in: there is no epoll here, so no reader parks.
type poller struct{}

func sharedPoller() (*poller, error) { return nil, errNotPollable }

func (*poller) canPoll(net.Conn) bool { return false }

func (*poller) arm(*Conn, net.Conn) error { return errNotPollable }

func (*poller) forget(*Conn, net.Conn) {}
