package chat

import "testing"

// The frames pages and the load test send take the fast path, and the rest fall back to
// encoding/json (FuzzDecodeFrame checks that both decode alike where the fast path accepts).
func TestDecodeFrameFastPath(t *testing.T) {
	for _, tc := range []struct {
		frame string
		fast  bool
	}{
		{`{"type":"chat.message","message":"Morning! ☕","client_id":"0193b0a4-7c3e-7def-8a12-3456789abcde"}`, true},
		{`{"message":"lt 3 17 1764237000123456789","client_id":"x"}`, true},
		{` { "type" : "history" , "before" : 120 } `, true},
		{`{"type":"catchup","since_seq":0}`, true},
		{`{"type":"chat.edit","id":-4,"message":""}`, true},
		{`{}`, true},
		{`{"message":"line one\nline two"}`, false}, // an escape
		{`{"Message":"hi"}`, false},                 // encoding/json matches keys in any case
		{`{"message":"a","message":"b"}`, false},    // the last one wins there
		{`{"message":null}`, false},
		{`{"id":1e2}`, false},
		{`{"id":0123}`, false},
		{`{"id":1234567890123456789}`, false}, // 19 digits
		{`{"unknown":true,"message":"hi"}`, false},
		{`{"message":"hi"} trailing`, false},
		{`{"message":"hi",}`, false},
		{"{\"message\":\"\xff\"}", false},
		{`[]`, false},
	} {
		in, fast := decodeFrameFast([]byte(tc.frame))
		if fast != tc.fast {
			t.Errorf("decodeFrameFast(%s): fast %v, want %v", tc.frame, fast, tc.fast)
		}
		if fast && in == nil {
			t.Errorf("decodeFrameFast(%s) accepted it without a frame", tc.frame)
		}
	}
	in, bad := decodeFrame([]byte(`{"type":"chat.message","message":"hi","client_id":"c-1"}`))
	if bad != nil || in.Type != TypeMessage || in.Message == nil || *in.Message != "hi" || in.ClientID != "c-1" {
		t.Fatalf("decodeFrame of a page's message: %+v, %+v", in, bad)
	}
}
