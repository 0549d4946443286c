package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// PRESENCE_PACE defaults to 200µs, takes 0 (no pacing) up to 1ms, and refuses the rest with a
// message naming it.
func TestPresencePace(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want time.Duration
		err  bool
	}{
		{"", 200 * time.Microsecond, false},
		{"0", 0, false},
		{"1ms", time.Millisecond, false},
		{"2ms", 0, true},
		{"-1us", 0, true},
		{"soon", 0, true},
	} {
		getenv := func(k string) string {
			if k == "PRESENCE_PACE" {
				return tt.env
			}
			return ""
		}
		cfg, _, err := Parse(flag.NewFlagSet("test", flag.ContinueOnError), nil, getenv)
		if tt.err {
			if err == nil || !strings.Contains(err.Error(), "PRESENCE_PACE") {
				t.Errorf("PRESENCE_PACE=%q: err %v, want one naming PRESENCE_PACE", tt.env, err)
			}
			continue
		}
		if err != nil || cfg.PresencePace != tt.want {
			t.Errorf("PRESENCE_PACE=%q: %v, %v; want %v", tt.env, cfg.PresencePace, err, tt.want)
		}
	}
}
