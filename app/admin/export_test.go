package admin_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExportCSV checks the export's headers, quoting, UTF-8, order, scope and formula
// neutralisation, and its audit entry.
func TestExportCSV(t *testing.T) {
	s := newSite(t)
	if _, err := s.Server.Store.CreateUser(ctx, "-mallory", "x"); err != nil {
		t.Fatal(err)
	}
	base := at(2024, 6, 1, 12)
	bodies := []string{
		"=HYPERLINK(\"http://evil\",\"click\")",
		"+1+2",
		"-3",
		"@SUM(A1)",
		"\tindented",
		"\rreturn",
		`He said "hi", then left`,
		"two\nlines",
		"ünïcödé ✓ 日本",
		"plain = fine",
	}
	var ids []int64
	for i, b := range bodies {
		author := "alice"
		if i == 2 {
			author = "-mallory"
		}
		room := "lobby"
		if i == 3 {
			room = "=cmd"
		}
		ids = append(ids, s.save(t, room, author, b, base.Add(time.Duration(i)*time.Second)).ID)
	}

	edited := at(2024, 6, 2, 8)
	if err := s.Server.Store.UpdateMessageBody(ctx, ids[9], "plain = fine", edited); err != nil {
		t.Fatal(err)
	}

	r := s.staff.PostCSRF("/admin/messages/export", form("scope", "all"))
	if r.Status != http.StatusOK {
		t.Fatalf("export: %d\n%s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="messages-`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil {
		t.Fatalf("not valid CSV: %v\n%s", err, r.Body)
	}
	if !slices.Equal(records[0], []string{"id", "created_at", "room", "author", "text", "edited_at"}) {
		t.Errorf("header = %v", records[0])
	}
	rows := records[1:]
	if len(rows) != len(bodies) {
		t.Fatalf("%d rows, want %d", len(rows), len(bodies))
	}
	want := map[int64][]string{ // id -> room, author, text as exported
		ids[0]: {"lobby", "alice", "'=HYPERLINK(\"http://evil\",\"click\")"},
		ids[1]: {"lobby", "alice", "'+1+2"},
		ids[2]: {"lobby", "'-mallory", "'-3"},
		ids[3]: {"'=cmd", "alice", "'@SUM(A1)"},
		ids[4]: {"lobby", "alice", "'\tindented"},
		ids[5]: {"lobby", "alice", "'\rreturn"},
		ids[6]: {"lobby", "alice", `He said "hi", then left`},
		ids[7]: {"lobby", "alice", "two\nlines"},
		ids[8]: {"lobby", "alice", "ünïcödé ✓ 日本"},
		ids[9]: {"lobby", "alice", "plain = fine"},
	}
	for i, row := range rows {
		id, _ := strconv.ParseInt(row[0], 10, 64)
		if want := ids[len(ids)-1-i]; id != want {
			t.Errorf("row %d has id %d, want %d (newest first)", i, id, want)
		}
		w := want[id]
		if row[2] != w[0] || row[3] != w[1] || row[4] != w[2] {
			t.Errorf("row %d = %q, want room, author, text %q", i, row, w)
		}
		if ts, err := time.Parse(time.RFC3339Nano, row[1]); err != nil || !ts.Equal(base.Add(time.Duration(len(ids)-1-i)*time.Second)) {
			t.Errorf("row %d created_at = %q", i, row[1])
		}
		wantEdited := ""
		if id == ids[9] {
			wantEdited = edited.Format(time.RFC3339Nano)
		}
		if row[5] != wantEdited {
			t.Errorf("row %d edited_at = %q, want %q", i, row[5], wantEdited)
		}
	}
	// Quoting is real quoting, not the reader being lenient.
	if !strings.Contains(r.Body, `"He said ""hi"", then left"`) || !strings.Contains(r.Body, "\"two\nlines\"") {
		t.Errorf("fields are not quoted:\n%s", r.Body)
	}

	// Selected rows only, and a filter for "all matching".
	r = s.staff.PostCSRF("/admin/messages/export", form("scope", "selected", "ids", itoa(ids[1]), "ids", itoa(ids[8])))
	records, _ = csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if len(records) != 3 || records[1][0] != itoa(ids[8]) || records[2][0] != itoa(ids[1]) {
		t.Errorf("selected export = %q", records)
	}
	r = s.staff.PostCSRF("/admin/messages/export", form("scope", "all", "author", "-mallory"))
	records, _ = csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if len(records) != 2 || records[1][0] != itoa(ids[2]) {
		t.Errorf("filtered export = %q", records)
	}
	if r := s.staff.PostCSRF("/admin/messages/export", form("scope", "selected")); r.Status != http.StatusBadRequest {
		t.Errorf("export of nothing selected: %d, want 400", r.Status)
	}

	// Each export is audited with who and how many.
	log := s.audit(t, "messages.export")
	if len(log) != 3 {
		t.Fatalf("%d export entries, want 3", len(log))
	}
	if e := log[2]; e.ActorName != "sam" || e.Count != int64(len(bodies)) || e.Target != "all matching: all messages" {
		t.Errorf("first export entry = %+v", e)
	}
	if e := log[1]; e.Count != 2 || e.Target != "2 selected message(s)" {
		t.Errorf("selected export entry = %+v", e)
	}
	if e := log[0]; e.Count != 1 || e.Target != "all matching: author=-mallory" {
		t.Errorf("filtered export entry = %+v", e)
	}
}

// TestExportStreamsManyRows exports more rows than one chunk, so the export has to page.
func TestExportStreamsManyRows(t *testing.T) {
	s := newSite(t)
	n := 2500 // two and a half chunks of 1000
	all := idsOf(s.saveMany(t, "lobby", "alice", n, at(2024, 1, 1, 0))...)
	r := s.super.PostCSRF("/admin/messages/export", form("scope", "all"))
	records, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if err != nil || len(records) != n+1 {
		t.Fatalf("%d records, %v", len(records), err)
	}
	for i, rec := range records[1:] {
		if rec[0] != itoa(all[i]) {
			t.Fatalf("row %d id %s, want %d", i, rec[0], all[i])
		}
	}
}
