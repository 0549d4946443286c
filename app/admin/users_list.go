package admin

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"chat/app/store"
)

// userQuery is the user list's filter as it appears in the URL.
type userQuery struct {
	Search string // username substring
	Staff  string // "", "yes" or "no"
	Active string // "", "yes" or "no"
}

func parseUserQuery(c *fiber.Ctx) (userQuery, store.UserFilter, error) {
	q := userQuery{Search: strings.TrimSpace(c.Query("q")), Staff: c.Query("staff"), Active: c.Query("active")}
	var f store.UserFilter
	if utf8.RuneCountInString(q.Search) > maxFilterChars {
		return q, f, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("The search is at most %d characters.", maxFilterChars))
	}
	f.Query = q.Search
	yesNo := func(name, v string) (*bool, error) {
		switch v {
		case "":
			return nil, nil
		case "yes", "no":
			b := v == "yes"
			return &b, nil
		}
		return nil, fiber.NewError(fiber.StatusBadRequest, name+" is yes or no.")
	}
	var err error
	if f.Staff, err = yesNo("staff", q.Staff); err != nil {
		return q, f, err
	}
	if f.Active, err = yesNo("active", q.Active); err != nil {
		return q, f, err
	}
	return q, f, nil
}

// url is the user list for this filter, with extra parameters.
func (q userQuery) url(extra ...string) string {
	v := url.Values{}
	for k, val := range map[string]string{"q": q.Search, "staff": q.Staff, "active": q.Active} {
		if val != "" {
			v.Set(k, val)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return "/admin/users"
	}
	return "/admin/users?" + v.Encode()
}

// userRow is one user as the list shows them.
type userRow struct {
	ID           int64
	Username     string
	Joined       string
	MessageCount int64
	MessagesURL  string
	IsStaff      bool
	IsSuperuser  bool
	IsActive     bool
	IsMe         bool
	ActionBase   string // /admin/users/<id>
}

// usersList lists accounts newest first, with search, staff and active filters, join date,
// message count and the actions the viewer may take.
func (h *Handler) usersList(c *fiber.Ctx) error {
	q, f, err := parseUserQuery(c)
	if err != nil {
		return err
	}
	cursor, err := parseCursor(c.Query)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	page, err := h.store.AdminUsers(ctx, f, cursor, h.settings.PageSize)
	if err != nil {
		return err
	}
	total, err := h.store.AdminCountUsers(ctx, f)
	if err != nil {
		return err
	}
	me := currentUser(c)
	rows := make([]userRow, len(page.Users))
	var first, last int64
	for i, u := range page.Users {
		rows[i] = userRow{
			ID: u.ID, Username: u.Username, Joined: u.CreatedAt.UTC().Format(timeFormat),
			MessageCount: u.MessageCount, MessagesURL: messageQuery{Author: u.Username}.url(),
			IsStaff: u.IsStaff, IsSuperuser: u.IsSuperuser, IsActive: u.IsActive, IsMe: u.ID == me.ID,
			ActionBase: "/admin/users/" + strconv.FormatInt(u.ID, 10),
		}
	}
	if n := len(page.Users); n > 0 {
		first, last = page.Users[0].ID, page.Users[n-1].ID
	}
	link := pageLink(q.url)
	data := h.page(c, "Users", "users")
	data["Query"] = q
	data["Rows"] = rows
	data["Total"] = total
	data["Pager"] = newPager(link, page.HasNewer, page.HasOlder, first, last, cursor)
	data["Flash"] = notice(c)
	data["Back"] = string(c.Request().RequestURI())
	return h.render(c, "admin/users", data)
}
