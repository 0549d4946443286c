// Package faults holds the tools the fault tests use to break a running chat on purpose, and
// the tests themselves (issue 8: faults, with nothing lost).
//
// The tools are real parts, no mocks: the chat binary built once and run as a subprocess
// (Proc: SIGKILL, SIGTERM, restart on the same address and database), a private redis-server
// on a free port that a test may stop and start again (RedisServer; never the shared one), a
// TCP proxy that can stop forwarding without closing anything (Proxy: a half-open
// connection), and a recorder of the frames one websocket receives (Stream). Package
// multinode uses them too.
package faults
