// Package multinode tests several chat nodes sharing one PostgreSQL database and one Redis
// channel layer (issue 7): messages, presence, sessions, logout and admin actions crossing
// from one node to another, a Redis restart under traffic, a node killed, and "chat check"
// against Redis. Its benchmarks compare fan-out on one node and across two.
//
// Every test gets its own PostgreSQL schema and its own private redis-server (the layer's key
// prefix is not configurable from the server's settings, so a private server is what keeps
// tests from seeing each other's rooms); they skip when PostgreSQL or redis-server is
// missing, and fail instead under CHAT_REQUIRE_SERVICES=1.
package multinode
