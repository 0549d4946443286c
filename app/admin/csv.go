package admin

import (
	"encoding/csv"
	"strconv"
	"time"

	"chat/models"
)

// csvHeader names the export's columns.
var csvHeader = []string{"id", "created_at", "room", "author", "text", "edited_at"}

// csvCell makes a value safe to open in a spreadsheet: a cell that starts with =, +, -, @,
// tab or carriage return would be read as a formula (CSV injection), so it gets a leading
// apostrophe, which spreadsheets show as text. Quoting is encoding/csv's job.
func csvCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// writeCSVRow writes one message; record is reused between rows.
func writeCSVRow(w *csv.Writer, record []string, m *models.Message) error {
	record[0] = strconv.FormatInt(m.ID, 10)
	record[1] = m.CreatedAt.UTC().Format(time.RFC3339Nano)
	record[2] = csvCell(m.RoomName)
	record[3] = csvCell(m.Username)
	record[4] = csvCell(m.Body)
	record[5] = ""
	if m.EditedAt != nil {
		record[5] = m.EditedAt.UTC().Format(time.RFC3339Nano)
	}
	return w.Write(record)
}
