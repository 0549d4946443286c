package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"chat/app/channels"
	"chat/app/store"
	"chat/models"
)

// sessionCookie holds the session token; the database keeps only its SHA-256.
const sessionCookie = "sessionid"

// touchEvery limits how often a request writes the session's last-seen time.
const touchEvery = time.Minute

// now is the clock; tests may replace it.
var now = time.Now

// loadSession puts the session and user of a valid session cookie into the request's locals,
// where the pages and the websocket scope read them.
func (h *Handler) loadSession(c *fiber.Ctx) error {
	token := c.Cookies(sessionCookie)
	if token == "" {
		return c.Next()
	}
	ctx := c.UserContext()
	t := now().UTC()
	key := hashToken(token)
	sess, err := h.store.SessionByKey(ctx, key, t)
	if errors.Is(err, store.ErrNotFound) || err == nil && sess.LastSeenAt.Add(h.settings.SessionIdleAge).Before(t) {
		h.clearSessionCookie(c)
		return c.Next()
	}
	if err != nil {
		return err
	}
	user, err := h.store.UserByID(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		h.clearSessionCookie(c)
		return c.Next()
	}
	if err != nil {
		return err
	}
	// A deactivated account is logged out everywhere, even if a session survived.
	if !user.IsActive {
		h.clearSessionCookie(c)
		return c.Next()
	}
	// Write last-seen at most once a minute, but often enough for a short idle timeout.
	if t.Sub(sess.LastSeenAt) > min(touchEvery, h.settings.SessionIdleAge/2) {
		if err := h.store.TouchSession(ctx, key, t); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("touching session failed", "err", err)
		}
	}
	c.Locals(channels.LocalSession, sess)
	c.Locals(channels.LocalUser, user)
	return c.Next()
}

// startSession logs user in: a fresh random token (so a session id planted before login is
// worthless), stored hashed, sent in an HttpOnly SameSite=Lax cookie.
func (h *Handler) startSession(c *fiber.Ctx, user *models.User) error {
	// Logging in again replaces the session this browser had (Django's cycle_key).
	if old := currentSession(c); old != nil {
		if err := h.store.DeleteSession(c.UserContext(), old.KeyHash); err != nil {
			return err
		}
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	t := now().UTC()
	sess := &models.Session{
		KeyHash: hashToken(token), UserID: user.ID, CreatedAt: t, LastSeenAt: t,
		ExpiresAt: t.Add(h.settings.SessionMaxAge), IP: c.IP(), UserAgent: truncate(c.Get(fiber.HeaderUserAgent), 200),
	}
	if err := h.store.CreateSession(c.UserContext(), sess); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.settings.SecureCookies,
	})
	h.rotateCSRF(c)
	c.Locals(channels.LocalSession, sess)
	c.Locals(channels.LocalUser, user)
	return nil
}

func (h *Handler) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.settings.SecureCookies,
	})
}

// requireLogin sends anonymous visitors to the login page, and back here afterwards.
func (h *Handler) requireLogin(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Next()
	}
	return c.Redirect("/login?next="+url.QueryEscape(string(c.Request().RequestURI())), fiber.StatusSeeOther)
}

// requireLoginSocket refuses a websocket handshake without a logged-in session, before the
// upgrade, with 403.
func (h *Handler) requireLoginSocket(c *fiber.Ctx) error {
	if currentUser(c) == nil {
		return fiber.NewError(fiber.StatusForbidden, "log in before opening a chat socket")
	}
	return c.Next()
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomToken returns 32 random bytes, URL-safe base64 encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
