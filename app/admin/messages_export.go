package admin

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
)

// exportTimeout bounds one streamed export; a million rows take seconds.
const exportTimeout = 30 * time.Minute

// messagesExport streams the selected messages, or all that match the filter, as CSV
// (UTF-8, RFC 4180 quoting, formula-looking cells neutralised), newest first. Rows are read
// in keyset chunks while the response is written, so the result is never held in memory.
// It is a POST (with the CSRF token) because it writes to the audit log, which it does
// before the first byte.
func (h *Handler) messagesExport(c *fiber.Ctx) error {
	b, err := h.parseBulk(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	count, err := h.store.AdminCountMessages(ctx, b.Filter)
	if err != nil {
		return err
	}
	if err := h.audit(c, ActionMessagesExport, b.target(), count, "csv"); err != nil {
		return err
	}
	name := fmt.Sprintf("messages-%s.csv", time.Now().UTC().Format("20060102-150405"))
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)

	// The writer runs after this handler returns, when fasthttp sends the body: it must not
	// touch c, so it gets copies of what it needs.
	st, f, chunk, log := h.store, b.Filter, h.settings.ExportChunk, h.log
	c.Context().SetBodyStreamWriter(func(out *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), exportTimeout)
		defer cancel()
		w := csv.NewWriter(out)
		record := make([]string, len(csvHeader))
		if err := w.Write(csvHeader); err != nil {
			return
		}
		var before int64
		for {
			rows, err := st.AdminExportMessages(ctx, f, before, chunk)
			if err != nil {
				log.Error("csv export failed", "err", err)
				return
			}
			for i := range rows {
				if err := writeCSVRow(w, record, &rows[i]); err != nil {
					return
				}
			}
			w.Flush()
			// Flushing hands the chunk to the client; an error means it went away.
			if w.Error() != nil || out.Flush() != nil || len(rows) < chunk {
				return
			}
			before = rows[len(rows)-1].ID
		}
	})
	return nil
}
