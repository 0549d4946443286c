package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"chat/app/config"
	"chat/app/server"
	"chat/app/store"
)

// run runs the command line in-process and returns the exit code and both outputs.
func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Run(args, server.Assets{}, &out, &errOut)
	return code, out.String(), errOut.String()
}

// openDB opens the test database to look at what the command did.
func openDB(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestCreateSuperuserFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	code, out, errOut := run("createsuperuser", "--username", "alice", "--password", "correct horse", "--no-input",
		"-database-url", db, "-bcrypt-cost", "4")
	if code != 0 || !strings.Contains(out, "Superuser alice created.") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	u, err := openDB(t, db).UserByName(context.Background(), "alice")
	if err != nil || !u.IsSuperuser || !u.IsStaff || !u.IsActive {
		t.Fatalf("user = %+v, %v", u, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("correct horse")) != nil {
		t.Error("the password does not match its hash")
	}

	// Again, in any case: refused clearly, exit 1.
	for _, name := range []string{"alice", "ALICE"} {
		code, _, errOut = run("createsuperuser", "--username", name, "--password", "another password", "--no-input", "-database-url", db)
		if code != 1 || !strings.Contains(errOut, "user "+name+" already exists") {
			t.Errorf("duplicate %s: exit %d, stderr %q", name, code, errOut)
		}
	}
}

func TestCreateSuperuserEnvironment(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	t.Setenv("DATABASE_URL", db)
	t.Setenv("BCRYPT_COST", "4")
	t.Setenv("CHAT_SUPERUSER_USERNAME", "root")
	t.Setenv("CHAT_SUPERUSER_PASSWORD", "from the environment")
	if code, out, errOut := run("createsuperuser", "--no-input"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	u, err := openDB(t, db).UserByName(context.Background(), "root")
	if err != nil || !u.IsSuperuser {
		t.Fatalf("user = %+v, %v", u, err)
	}
	// Flags win over the environment.
	if code, _, errOut := run("createsuperuser", "--no-input", "--username", "other"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, _, errOut := run("createsuperuser", "--no-input"); code != 1 || !strings.Contains(errOut, "user root already exists") {
		t.Errorf("duplicate from the environment: %d %q", code, errOut)
	}
}

func TestCreateSuperuserRules(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--username", "bad name!", "--password", "long enough"}, "Usernames are 1 to 30 characters"},
		{[]string{"--username", "bob", "--password", "short"}, "Passwords are at least 8 characters."},
		{[]string{"--username", "bobby-tables", "--password", "BOBBY-TABLES"}, "The password cannot be the username."},
		{[]string{"--username", "bob"}, "a username and a password are needed"},
		{[]string{"--password", "long enough"}, "a username and a password are needed"},
	}
	for _, tc := range cases {
		args := append([]string{"createsuperuser", "--no-input", "-database-url", db}, tc.args...)
		code, _, errOut := run(args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, _, _ := run("createsuperuser", "--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	n, err := openDB(t, db).CountUsers(context.Background())
	if err != nil || n != 0 {
		t.Errorf("%d users after refusals, %v", n, err)
	}
}

// scripted answers prompts from a list, as a person at a terminal would.
type scripted struct {
	answers []string
	asked   []string
}

func (s *scripted) next(prompt string) (string, error) {
	s.asked = append(s.asked, prompt)
	if len(s.answers) == 0 {
		return "", errors.New("no more answers")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func (s *scripted) Line(prompt string) (string, error)     { return s.next(prompt) }
func (s *scripted) Password(prompt string) (string, error) { return s.next(prompt) }

func TestCreateSuperuserPrompts(t *testing.T) {
	cfg := config.Defaults()
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "chat.db")
	cfg.BcryptCost = 4
	ask := &scripted{answers: []string{
		"bad name!",                    // refused: asked again
		"carol",                        // fine
		"password one", "password two", // differ: asked again
		"good password", "good password",
	}}
	var out bytes.Buffer
	if err := makeSuperuser(cfg, "", "", ask, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := []string{"Username: ", "Username: ", "Password: ", "Password (again): ", "Password: ", "Password (again): "}
	if strings.Join(ask.asked, "|") != strings.Join(want, "|") {
		t.Errorf("asked %q, want %q", ask.asked, want)
	}
	if !strings.Contains(out.String(), "Error: The two passwords differ.") || !strings.Contains(out.String(), "Superuser carol created.") {
		t.Errorf("output:\n%s", out.String())
	}
	// A name given by flag that is taken is asked again too.
	ask = &scripted{answers: []string{"dave", "another good one", "another good one"}}
	out.Reset()
	if err := makeSuperuser(cfg, "carol", "", ask, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Error: user carol already exists") || !strings.Contains(out.String(), "Superuser dave created.") {
		t.Errorf("output:\n%s", out.String())
	}
}
