package ratelimit

import (
	"sync"
	"testing"
	"time"
)

func TestBucketRefillsAndSaysWhen(t *testing.T) {
	clock := time.Unix(1000, 0)
	l := New(2, 3) // 2 per second, burst 3
	l.now = func() time.Time { return clock }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("u"); !ok {
			t.Fatalf("token %d refused within burst", i)
		}
	}
	ok, wait := l.Allow("u")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th token: ok=%v wait=%v, want refused with 500ms", ok, wait)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Fatal("keys share a bucket")
	}
	clock = clock.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("u"); !ok {
		t.Fatal("no token after refill")
	}
}

func TestCheckDoesNotConsume(t *testing.T) {
	l := New(0.001, 1)
	for i := 0; i < 5; i++ {
		if ok, _ := l.Check("k"); !ok {
			t.Fatal("Check consumed a token")
		}
	}
	l.Allow("k")
	if ok, _ := l.Check("k"); ok {
		t.Fatal("Check allowed after the only token was taken")
	}
}

func TestZeroLimitIsOff(t *testing.T) {
	l := New(0, 0)
	for i := 0; i < 100; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("a zero limit refused")
		}
	}
}

func TestSweepForgetsFullBuckets(t *testing.T) {
	clock := time.Unix(1000, 0)
	l := New(1, 1)
	l.now = func() time.Time { return clock }
	for _, k := range []string{"a", "b", "c"} {
		l.Allow(k)
	}
	clock = clock.Add(2 * time.Minute)
	l.Allow("d")
	if n := l.Len(); n != 1 {
		t.Fatalf("after sweep %d keys remain, want 1", n)
	}
}

func TestConcurrentUseGivesExactlyBurst(t *testing.T) {
	l := New(0.0001, 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if granted != 50 {
		t.Fatalf("granted %d tokens, want exactly the burst of 50", granted)
	}
}
