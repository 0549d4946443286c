package store

import (
	"context"
	"fmt"
	"strings"

	"chat/models"
)

// UserFilter selects users for the staff admin; zero fields do not filter.
type UserFilter struct {
	Query  string // the username contains Query, ignoring case
	Staff  *bool  // is (or is not) staff
	Active *bool  // is (or is not) active
}

// UserRow is a user as the admin lists it, with how many messages they have sent.
type UserRow struct {
	models.User
	MessageCount int64
}

// UserPage is one keyset page of users, newest first (by id, so by join date).
type UserPage struct {
	Users    []UserRow
	HasNewer bool // a newer page exists
	HasOlder bool // an older page exists
}

func (f UserFilter) where() (string, []any) {
	conds := []string{"1 = 1"}
	var args []any
	if f.Query != "" {
		// lower() on both sides: LIKE alone is case-sensitive on PostgreSQL.
		conds = append(conds, `lower(u.username) LIKE lower(?) ESCAPE '\'`)
		args = append(args, "%"+escapeLike(f.Query)+"%")
	}
	if f.Staff != nil {
		conds = append(conds, "u.is_staff = ?")
		args = append(args, *f.Staff)
	}
	if f.Active != nil {
		conds = append(conds, "u.is_active = ?")
		args = append(args, *f.Active)
	}
	return strings.Join(conds, " AND "), args
}

// AdminUsers returns one keyset page of up to limit (<= 0: 50) users matching f, newest
// first, each with their message count.
func (s *Store) AdminUsers(ctx context.Context, f UserFilter, c Cursor, limit int) (UserPage, error) {
	limit = clampLimit(limit, 50)
	where, args := f.where()
	tail, targs, asc := keyset("u.id", c, limit)
	// The count is a correlated subquery, run only for the rows of the page, each one a range
	// of the messages (user_id, id) index.
	q := `SELECT u.id, u.username, u.created_at, u.is_staff, u.is_superuser, u.is_active,
		(SELECT count(*) FROM messages m WHERE m.user_id = u.id) AS message_count
		FROM users u WHERE ` + where + tail
	rows, err := s.reader.WithContext(ctx).Raw(q, append(args, targs...)...).Rows()
	if err != nil {
		return UserPage{}, fmt.Errorf("store: admin users: %w", err)
	}
	defer rows.Close()
	var list []UserRow
	for rows.Next() {
		var r UserRow
		if err := rows.Scan(&r.ID, &r.Username, &r.CreatedAt, &r.IsStaff, &r.IsSuperuser, &r.IsActive, &r.MessageCount); err != nil {
			return UserPage{}, fmt.Errorf("store: admin users: %w", err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return UserPage{}, fmt.Errorf("store: admin users: %w", err)
	}
	probe := func(op string, id int64) (bool, error) {
		var ids []int64
		err := s.reader.WithContext(ctx).Raw("SELECT u.id FROM users u WHERE "+where+" AND u.id "+op+" ? LIMIT 1",
			append(append([]any{}, args...), id)...).Scan(&ids).Error
		return len(ids) > 0, err
	}
	users, newer, older, err := pageEdges(list, func(r UserRow) int64 { return r.ID }, c, limit, asc, probe)
	if err != nil {
		return UserPage{}, fmt.Errorf("store: admin users: %w", err)
	}
	return UserPage{Users: users, HasNewer: newer, HasOlder: older}, nil
}

// AdminCountUsers counts the users matching f.
func (s *Store) AdminCountUsers(ctx context.Context, f UserFilter) (int64, error) {
	where, args := f.where()
	var n int64
	if err := s.reader.WithContext(ctx).Raw("SELECT count(*) FROM users u WHERE "+where, args...).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}
