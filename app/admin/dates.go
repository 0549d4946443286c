package admin

import (
	"strconv"
	"time"
)

// dateLink is one link of the date drill-down.
type dateLink struct {
	Label   string
	URL     string
	Current bool
}

// dateNav is the date drill-down above the message list, like Django's date_hierarchy: a
// trail back up (all dates › 2024 › March) and the choices one level down (the years between
// the oldest and newest message, then the months of the chosen year, then its days).
type dateNav struct {
	Trail   []dateLink
	Choices []dateLink
}

// newDateNav builds the drill-down for q over the messages' span [oldest, newest]; other
// filters stay in every link, the page cursor does not.
func newDateNav(q messageQuery, oldest, newest time.Time, ok bool) dateNav {
	var nav dateNav
	at := func(year, month, day int) string {
		d := q
		d.Year, d.Month, d.Day = year, month, day
		return d.url()
	}
	nav.Trail = append(nav.Trail, dateLink{Label: "All dates", URL: at(0, 0, 0), Current: q.Year == 0})
	if q.Year != 0 {
		nav.Trail = append(nav.Trail, dateLink{Label: strconv.Itoa(q.Year), URL: at(q.Year, 0, 0), Current: q.Month == 0})
	}
	if q.Month != 0 {
		nav.Trail = append(nav.Trail, dateLink{Label: time.Month(q.Month).String(), URL: at(q.Year, q.Month, 0), Current: q.Day == 0})
	}
	if q.Day != 0 {
		nav.Trail = append(nav.Trail, dateLink{Label: strconv.Itoa(q.Day), URL: at(q.Year, q.Month, q.Day), Current: true})
	}
	if !ok {
		return nav
	}
	// Month and day keys (year*100+month, ...) compare periods against the span.
	monthKey := func(y, m int) int { return y*100 + m }
	dayKey := func(y, m, d int) int { return (y*100+m)*100 + d }
	switch {
	case q.Year == 0:
		for y := oldest.Year(); y <= newest.Year(); y++ {
			nav.Choices = append(nav.Choices, dateLink{Label: strconv.Itoa(y), URL: at(y, 0, 0)})
		}
	case q.Month == 0:
		lo, hi := monthKey(oldest.Year(), int(oldest.Month())), monthKey(newest.Year(), int(newest.Month()))
		for m := 1; m <= 12; m++ {
			if k := monthKey(q.Year, m); k >= lo && k <= hi {
				nav.Choices = append(nav.Choices, dateLink{Label: time.Month(m).String()[:3], URL: at(q.Year, m, 0)})
			}
		}
	case q.Day == 0:
		lo, hi := dayKey(oldest.Year(), int(oldest.Month()), oldest.Day()), dayKey(newest.Year(), int(newest.Month()), newest.Day())
		for d := 1; d <= daysIn(q.Year, time.Month(q.Month)); d++ {
			if k := dayKey(q.Year, q.Month, d); k >= lo && k <= hi {
				nav.Choices = append(nav.Choices, dateLink{Label: strconv.Itoa(d), URL: at(q.Year, q.Month, d)})
			}
		}
	}
	return nav
}
