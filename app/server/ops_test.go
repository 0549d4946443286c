package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"chat/app/apptest"
)

func fetch(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Liveness and readiness answer without a session; metrics are off unless configured.
func TestHealthReadyAndMetricsOffByDefault(t *testing.T) {
	env := apptest.Start(t, apptest.Config(t))
	if code, body := fetch(t, env.BaseURL+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := fetch(t, env.BaseURL+"/readyz", ""); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if code, _ := fetch(t, env.BaseURL+"/metrics", ""); code != 404 {
		t.Fatalf("/metrics without configuration: %d, want 404", code)
	}
}

// With METRICS_TOKEN, /metrics needs the token and reports the node's counters.
func TestMetricsNeedTheTokenAndCount(t *testing.T) {
	cfg := apptest.Config(t)
	cfg.MetricsToken = "s3cret"
	env := apptest.Start(t, cfg)
	if code, _ := fetch(t, env.BaseURL+"/metrics", ""); code != 401 {
		t.Fatalf("/metrics without token: %d, want 401", code)
	}
	if code, _ := fetch(t, env.BaseURL+"/metrics", "wrong"); code != 401 {
		t.Fatalf("/metrics with a wrong token: %d, want 401", code)
	}
	s := env.NewUser("alice").MustDial("lobby", "")
	s.Send(map[string]any{"message": "counted"})
	s.Expect("chat.message")
	code, body := fetch(t, env.BaseURL+"/metrics", "s3cret")
	if code != 200 {
		t.Fatalf("/metrics with the token: %d", code)
	}
	for _, want := range []string{
		`chat_messages_stored_total{node="test"} 1`,
		`chat_websocket_connections{node="test"} 1`,
		`chat_store_commit_seconds_count{node="test"} 1`,
		`chat_websocket_slow_closes_total{node="test"} 0`,
		`chat_layer_group_send_skips_total{node="test"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// At least the message's own delivery was written; presence frames may add more.
	if !regexp.MustCompile(`chat_websocket_writes_total\{node="test"\} [1-9]`).MatchString(body) {
		t.Errorf("metrics lack a chat_websocket_writes_total above zero")
	}
}
