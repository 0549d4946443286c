package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// account is a registered, logged-in user: the Cookie header its sockets send.
type account struct {
	name   string
	cookie string
}

// registerUsers registers n users through the real /register form, a few at a time, and
// returns their session cookies. Bcrypt makes this the slow part of set-up: run the server
// with a low BCRYPT_COST for big runs.
func registerUsers(ctx context.Context, base, prefix, password string, n, parallel int) ([]account, error) {
	// A transport of its own, whose keep-alive connections are closed once every user is
	// registered: left open, they would sit on the server for the whole run, and keep a
	// server's graceful shutdown waiting for them.
	tr := &http.Transport{MaxIdleConnsPerHost: parallel}
	defer tr.CloseIdleConnections()
	out := make([]account, n)
	errs := make(chan error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				acc, err := register(ctx, tr, base, fmt.Sprintf("%s%d", prefix, i), password)
				if err != nil {
					errs <- err
					continue
				}
				out[i] = acc
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, ctx.Err()
}

func register(ctx context.Context, tr http.RoundTripper, base, name, password string) (account, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/register", nil)
	resp, err := client.Do(req)
	if err != nil {
		return account{}, fmt.Errorf("register %s: %w", name, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		return account{}, fmt.Errorf("register %s: no CSRF token on /register (status %d)", name, resp.StatusCode)
	}
	form := url.Values{"username": {name}, "password": {password}, "password_confirm": {password}, "csrf_token": {string(m[1])}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/register", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = client.Do(req)
	if err != nil {
		return account{}, fmt.Errorf("register %s: %w", name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return account{}, fmt.Errorf("register %s: status %d: %.200s", name, resp.StatusCode, body)
	}
	u, _ := url.Parse(base)
	var parts []string
	for _, c := range jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return account{name: name, cookie: strings.Join(parts, "; ")}, nil
}
