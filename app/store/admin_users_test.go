package store_test

import (
	"errors"
	"slices"
	"testing"

	"chat/app/store"
	"chat/app/store/storetest"
	"chat/models"
)

func TestUserFlags(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		if !u.IsActive || u.IsStaff || u.IsSuperuser {
			t.Errorf("new user = %+v, want active, not staff", u)
		}
		check := func(staff, super, active bool) {
			t.Helper()
			got, err := s.UserByID(ctx, u.ID)
			if err != nil || got.IsStaff != staff || got.IsSuperuser != super || got.IsActive != active {
				t.Errorf("user = %+v, %v; want staff %v, superuser %v, active %v", got, err, staff, super, active)
			}
		}
		if err := s.SetUserStaff(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		check(true, false, true)
		if err := s.SetUserActive(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		check(true, false, false)
		if err := s.SetUserActive(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUserStaff(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		check(false, false, true)
		if err := s.SetUserSuperuser(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		check(true, true, true)
		if err := s.SetUserSuperuser(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		check(true, false, true)
		for _, err := range []error{s.SetUserStaff(ctx, 9999, true), s.SetUserActive(ctx, 9999, false), s.SetUserSuperuser(ctx, 9999, true)} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("missing user: %v, want ErrNotFound", err)
			}
		}

		root, err := s.CreateSuperuser(ctx, "root", "hash")
		if err != nil || !root.IsStaff || !root.IsSuperuser || !root.IsActive {
			t.Fatalf("CreateSuperuser = %+v, %v", root, err)
		}
		if got, _ := s.UserByName(ctx, "ROOT"); got == nil || !got.IsSuperuser || !got.IsStaff || !got.IsActive {
			t.Errorf("superuser read back = %+v", got)
		}
		if _, err := s.CreateSuperuser(ctx, "Root", "hash"); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("duplicate superuser: %v, want ErrDuplicate", err)
		}
	})
}

func TestAdminUsers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		names := []string{"alice", "bob", "carol", "dave", "Alicia", "mal_ory"}
		users := map[string]*models.User{}
		for _, n := range names {
			users[n] = mustUser(t, s, n)
		}
		r := mustRoom(t, s, "lobby")
		mustSave(t, s, msg(r, users["bob"], "1", ""), msg(r, users["bob"], "2", ""), msg(r, users["carol"], "3", ""))
		_ = s.SetUserStaff(ctx, users["carol"].ID, true)
		_ = s.SetUserActive(ctx, users["dave"].ID, false)
		_ = s.SetUserActive(ctx, users["Alicia"].ID, false)
		_ = s.SetUserStaff(ctx, users["Alicia"].ID, true)

		yes, no := true, false
		cases := []struct {
			name   string
			filter store.UserFilter
			want   []string // newest first
		}{
			{"all", store.UserFilter{}, []string{"mal_ory", "Alicia", "dave", "carol", "bob", "alice"}},
			{"search ignores case", store.UserFilter{Query: "ALI"}, []string{"Alicia", "alice"}},
			{"search underscore is literal", store.UserFilter{Query: "l_o"}, []string{"mal_ory"}},
			{"staff", store.UserFilter{Staff: &yes}, []string{"Alicia", "carol"}},
			{"not staff", store.UserFilter{Staff: &no}, []string{"mal_ory", "dave", "bob", "alice"}},
			{"inactive", store.UserFilter{Active: &no}, []string{"Alicia", "dave"}},
			{"active staff", store.UserFilter{Staff: &yes, Active: &yes}, []string{"carol"}},
			{"search and inactive", store.UserFilter{Query: "a", Active: &no}, []string{"Alicia", "dave"}},
			{"nothing", store.UserFilter{Query: "zed"}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, err := s.AdminUsers(ctx, tc.filter, store.Cursor{}, 50)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, u := range p.Users {
					got = append(got, u.Username)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("users = %v, want %v", got, tc.want)
				}
				if n, err := s.AdminCountUsers(ctx, tc.filter); err != nil || n != int64(len(tc.want)) {
					t.Errorf("count = %d, %v; want %d", n, err, len(tc.want))
				}
			})
		}

		p, err := s.AdminUsers(ctx, store.UserFilter{}, store.Cursor{}, 2)
		if err != nil || len(p.Users) != 2 || p.HasNewer || !p.HasOlder {
			t.Fatalf("first page = %+v, %v", p, err)
		}
		p, err = s.AdminUsers(ctx, store.UserFilter{}, store.Cursor{Before: p.Users[1].ID}, 2)
		if err != nil || len(p.Users) != 2 || !p.HasNewer || !p.HasOlder || p.Users[0].Username != "dave" {
			t.Fatalf("second page = %+v, %v", p, err)
		}
		counts := map[string]int64{}
		all, _ := s.AdminUsers(ctx, store.UserFilter{}, store.Cursor{}, 50)
		for _, u := range all.Users {
			counts[u.Username] = u.MessageCount
			if u.CreatedAt.IsZero() {
				t.Errorf("%s has no join date", u.Username)
			}
		}
		if counts["bob"] != 2 || counts["carol"] != 1 || counts["alice"] != 0 {
			t.Errorf("message counts = %v", counts)
		}
		for _, u := range all.Users {
			if u.Username == "Alicia" && (!u.IsStaff || u.IsActive) {
				t.Errorf("Alicia flags = %+v", u)
			}
		}
	})
}
