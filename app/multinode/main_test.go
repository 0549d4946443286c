package multinode

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"chat/app/faults"
)

// chatBin is the chat binary, built once for the tests that run a node as a subprocess.
var chatBin string

func TestMain(m *testing.M) {
	// go-redis reports every failed dial while a test has Redis down; the tests check what
	// matters themselves.
	redis.SetLogger(quiet{})
	dir, err := os.MkdirTemp("", "chat-multinode-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatBin, err = faults.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
