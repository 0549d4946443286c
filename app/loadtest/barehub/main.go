// Command barehub is the reference issue 6 measures chat against: a minimal Fiber and
// contrib/websocket broadcast hub, with no login, no database and one writer goroutine per
// connection. It speaks just enough of chat's wire format for `chat loadtest` to drive it
// unchanged, so both can be measured on the same day with the same commands:
//
//	go build -o /tmp/barehub ./app/loadtest/barehub
//	taskset -c 0 /tmp/barehub -addr 127.0.0.1:18092 &
//	taskset -c 1 chat loadtest -url http://127.0.0.1:18092 -server-pid $! -rooms 1 -members 100 -senders 1 -rate 500
//
// It is not part of the chat binary.
package main

import (
	"flag"
	"log"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	flag.Parse()
	log.Fatal(newApp().Listen(*addr))
}
