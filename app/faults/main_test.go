package faults

import (
	"fmt"
	"os"
	"testing"
)

// chatBin is the chat binary, built once for the tests that kill and restart a server.
var chatBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chat-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatBin, err = Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
