package store

import (
	"math"
	"slices"
)

// Cursor picks one keyset page of a list shown newest first (highest id first). The zero
// Cursor is the newest page. Keyset pages cost the same at the millionth row as at the first,
// where OFFSET would read and skip every row before the page.
type Cursor struct {
	Before  int64 // > 0: the page of ids just below Before
	After   int64 // with Forward: the page of ids just above After
	Forward bool  // page toward newer rows from After; After 0 is the oldest page
}

// keyset returns the SQL tail of a page (after the WHERE conditions) on the id column col,
// and whether the rows come back oldest first. It asks for one row more than limit, which
// tells whether the list goes on in the direction of travel.
func keyset(col string, c Cursor, limit int) (tail string, args []any, ascending bool) {
	cmp := func(op string, v int64) (string, []any) { return col + " " + op + " ?", []any{v} }
	return keysetBy(cmp, col, c, limit)
}

// keysetBy is keyset with the cursor's condition and the order given apart: cmp(op, v) is
// the condition that a row's id is op v, and order must sort rows as their ids do.
func keysetBy(cmp func(op string, v int64) (string, []any), order string, c Cursor, limit int) (tail string, args []any, ascending bool) {
	switch {
	case c.Forward:
		cond, args := cmp(">", c.After)
		return " AND " + cond + " ORDER BY " + order + " ASC LIMIT ?", append(args, limit+1), true
	case c.Before > 0:
		cond, args := cmp("<", c.Before)
		return " AND " + cond + " ORDER BY " + order + " DESC LIMIT ?", append(args, limit+1), false
	default:
		return " ORDER BY " + order + " DESC LIMIT ?", []any{limit + 1}, false
	}
}

// pageEdges trims the extra row keyset asked for, puts rows newest first, and says which ways
// the list goes on. probe(op, id) reports whether a matching row has an id op id ("<" or ">"),
// for the direction the query did not travel.
func pageEdges[T any](rows []T, id func(T) int64, c Cursor, limit int, ascending bool,
	probe func(op string, id int64) (bool, error)) (page []T, hasNewer, hasOlder bool, err error) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	if ascending {
		slices.Reverse(rows)
	}
	switch {
	case c.Forward:
		hasNewer = more
		if len(rows) > 0 {
			hasOlder, err = probe("<", id(rows[len(rows)-1]))
		} else if c.After > 0 {
			hasOlder, err = probe("<", min(c.After, math.MaxInt64-1)+1) // no id is MaxInt64
		}
	case c.Before > 0:
		hasOlder = more
		if len(rows) > 0 {
			hasNewer, err = probe(">", id(rows[0]))
		} else {
			hasNewer, err = probe(">", c.Before-1)
		}
	default:
		hasOlder = more
	}
	return rows, hasNewer, hasOlder, err
}
