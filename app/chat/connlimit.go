package chat

import (
	"net"
	"strconv"
	"sync"
)

// connCounter counts open connections per user and per client address, so one account or
// one machine cannot hold all of the server's sockets.
type connCounter struct {
	mu     sync.Mutex
	byUser map[int64]int
	byIP   map[string]int
}

// acquire counts a new connection, or reports which limit it would pass ("" when it fits).
// A limit of 0 means no limit.
func (cc *connCounter) acquire(userID int64, ip string, perUser, perIP int) string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byUser == nil {
		cc.byUser, cc.byIP = map[int64]int{}, map[string]int{}
	}
	if perUser > 0 && cc.byUser[userID] >= perUser {
		return "too many open connections for this account (at most " + strconv.Itoa(perUser) + ")"
	}
	if perIP > 0 && cc.byIP[ip] >= perIP {
		return "too many open connections from this address (at most " + strconv.Itoa(perIP) + ")"
	}
	cc.byUser[userID]++
	cc.byIP[ip]++
	return ""
}

// release forgets a connection counted by acquire.
func (cc *connCounter) release(userID int64, ip string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byUser[userID]--; cc.byUser[userID] <= 0 {
		delete(cc.byUser, userID)
	}
	if cc.byIP[ip]--; cc.byIP[ip] <= 0 {
		delete(cc.byIP, ip)
	}
}

// clientIP is the address part of a scope's client "host:port".
func clientIP(client string) string {
	if host, _, err := net.SplitHostPort(client); err == nil {
		return host
	}
	return client
}
