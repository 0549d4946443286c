package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"chat/app/config"
	"chat/app/store"
	"chat/app/web"
)

// createSuperuser is "chat createsuperuser": it migrates the database, then creates an active
// superuser (staff too), like Django's command of the same name. The username and password
// come from --username / --password, or CHAT_SUPERUSER_USERNAME / CHAT_SUPERUSER_PASSWORD,
// or are asked for when stdin is a terminal (the password twice, not echoed). --no-input never
// asks. The register form's rules apply. It returns the exit code.
func createSuperuser(args []string, getenv func(string) string, stdin *os.File, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chat createsuperuser", flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", getenv("CHAT_SUPERUSER_USERNAME"), "the superuser's username ($CHAT_SUPERUSER_USERNAME)")
	password := fs.String("password", getenv("CHAT_SUPERUSER_PASSWORD"),
		"the superuser's password ($CHAT_SUPERUSER_PASSWORD; prefer the variable or the prompt: flags show in ps)")
	noInput := fs.Bool("no-input", false, "never prompt; fail if the username or password is missing")
	cfg, rest, err := config.Parse(fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chat createsuperuser: %v\n", err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "chat createsuperuser: unexpected arguments %q\n", rest)
		return 2
	}
	var ask prompter
	if !*noInput && stdin != nil && term.IsTerminal(int(stdin.Fd())) {
		ask = &terminalPrompter{in: stdin, lines: bufio.NewReader(stdin), out: stdout}
	}
	if err := makeSuperuser(cfg, *username, *password, ask, stdout); err != nil {
		fmt.Fprintf(stderr, "chat createsuperuser: %v\n", err)
		return 1
	}
	return 0
}

// prompter asks a person for what the flags and environment did not give.
type prompter interface {
	Line(prompt string) (string, error)
	Password(prompt string) (string, error)
}

// terminalPrompter prompts on a terminal; passwords are read without echo.
type terminalPrompter struct {
	in    *os.File
	lines *bufio.Reader
	out   io.Writer
}

// Line reads one line of input.
func (p *terminalPrompter) Line(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	s, err := p.lines.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// Password reads a line with echo off.
func (p *terminalPrompter) Password(prompt string) (string, error) {
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(int(p.in.Fd()))
	fmt.Fprintln(p.out)
	return string(b), err
}

// errNoInput explains what to pass when there is nobody to ask.
var errNoInput = errors.New("a username and a password are needed: pass --username and --password, or set " +
	"CHAT_SUPERUSER_USERNAME and CHAT_SUPERUSER_PASSWORD (nothing is asked with --no-input or when stdin is not a terminal)")

// makeSuperuser creates the superuser; ask is nil when nobody can be asked. With someone to
// ask, a rejected username or password is asked again, as Django does.
func makeSuperuser(cfg config.Config, username, password string, ask prompter, stdout io.Writer) error {
	ctx := context.Background()
	st, err := store.Open(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating the database: %w", err)
	}

	// nameProblem says why a username cannot be used, or "".
	nameProblem := func(name string) (string, error) {
		if !web.ValidUsername(name) {
			return web.UsernameRules, nil
		}
		_, err := st.UserByName(ctx, name)
		switch {
		case err == nil:
			return "user " + name + " already exists", nil
		case !errors.Is(err, store.ErrNotFound):
			return "", err
		}
		return "", nil
	}
	if username == "" && ask == nil || password == "" && ask == nil {
		return errNoInput
	}
	for {
		if username == "" {
			if username, err = ask.Line("Username: "); err != nil {
				return err
			}
		}
		problem, err := nameProblem(username)
		if err != nil {
			return err
		}
		if problem == "" {
			break
		}
		if ask == nil {
			return errors.New(problem)
		}
		fmt.Fprintf(stdout, "Error: %s\n", problem)
		username = ""
	}
	confirm := password
	for {
		if password == "" {
			if password, err = ask.Password("Password: "); err != nil {
				return err
			}
			if confirm, err = ask.Password("Password (again): "); err != nil {
				return err
			}
		}
		msg := web.CheckNewPassword(username, password, confirm)
		if msg == "" {
			break
		}
		if ask == nil {
			return errors.New(msg)
		}
		fmt.Fprintf(stdout, "Error: %s\n", msg)
		password = ""
	}
	hash, err := web.HashPassword(password, cfg.BcryptCost)
	if err != nil {
		return err
	}
	if _, err := st.CreateSuperuser(ctx, username, string(hash)); err != nil {
		if errors.Is(err, store.ErrDuplicate) { // created in the meantime
			return fmt.Errorf("user %s already exists", username)
		}
		return err
	}
	fmt.Fprintf(stdout, "Superuser %s created.\n", username)
	return nil
}
