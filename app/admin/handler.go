// Package admin is the staff admin, in the manner of Django's: the message history with
// filters, bulk delete and CSV export; users (deactivate, staff); who is connected now; and
// the audit log of every admin action. Every route checks staff itself (see Routes), and the
// global middleware of package web has already loaded the session and checked CSRF.
package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"chat/app/channels"
	"chat/app/layer"
	"chat/app/store"
	"chat/models"
)

// MessageStore is what the message pages need from the database.
type MessageStore interface {
	MessageByID(ctx context.Context, id int64) (*models.Message, error)
	AdminMessages(ctx context.Context, f store.MessageFilter, c store.Cursor, limit int) (store.MessagePage, error)
	AdminExportMessages(ctx context.Context, f store.MessageFilter, beforeID int64, limit int) ([]models.Message, error)
	AdminCountMessages(ctx context.Context, f store.MessageFilter) (int64, error)
	AdminMessageSpan(ctx context.Context) (oldest, newest time.Time, ok bool, err error)
	AdminDeleteMessages(ctx context.Context, f store.MessageFilter, limit int) ([]models.Message, error)
	RoomByName(ctx context.Context, name string) (*models.Room, error)
}

// UserStore is what the user pages need from the database.
type UserStore interface {
	UserByID(ctx context.Context, id int64) (*models.User, error)
	UserByName(ctx context.Context, username string) (*models.User, error)
	AdminUsers(ctx context.Context, f store.UserFilter, c store.Cursor, limit int) (store.UserPage, error)
	AdminCountUsers(ctx context.Context, f store.UserFilter) (int64, error)
	SetUserActive(ctx context.Context, id int64, active bool) error
	SetUserStaff(ctx context.Context, id int64, staff bool) error
	DeleteUserSessions(ctx context.Context, userID int64, exceptKeyHash string) (int64, error)
}

// AuditStore keeps the audit log.
type AuditStore interface {
	AddAudit(ctx context.Context, e *store.AuditEntry) error
	ListAudit(ctx context.Context, action string, c store.Cursor, limit int) (store.AuditPage, error)
}

// Store is everything the admin reads and writes; *store.Store is one.
type Store interface {
	MessageStore
	UserStore
	AuditStore
}

// Layer is what the admin needs from the channel layer: closing one socket, or all of a user's.
type Layer interface {
	Send(ctx context.Context, channel string, ev *layer.Event) error
	GroupSend(ctx context.Context, group string, ev *layer.Event) error
}

// Rooms tells a room's members that a message is gone; *chat.App is one.
type Rooms interface {
	BroadcastDelete(ctx context.Context, group string, id int64) error
}

// Connections lists this node's open websockets; *channels.Server is one.
type Connections interface {
	Each(fn func(*channels.Conn))
}

// ViewFunc starts a page's template data with what every page of the site shows (title,
// user, staff flag, CSRF token); web.Handler.View is one.
type ViewFunc func(c *fiber.Ctx, title string) fiber.Map

// Settings are the admin's tunables.
type Settings struct {
	PageSize    int // rows per list page
	ExportChunk int // rows per query while streaming a CSV export
	DeleteChunk int // rows per transaction while deleting
	MaxSelected int // most rows one "selected" action takes
}

// DefaultSettings are the settings used where a field is zero.
var DefaultSettings = Settings{PageSize: 50, ExportChunk: 1000, DeleteChunk: 500, MaxSelected: 1000}

// Deps are the admin's collaborators.
type Deps struct {
	Store       Store
	Layer       Layer
	Rooms       Rooms
	Connections Connections
	View        ViewFunc
	Log         *slog.Logger
}

// Handler holds the dependencies of every admin handler.
type Handler struct {
	store    Store
	layer    Layer
	rooms    Rooms
	conns    Connections
	view     ViewFunc
	settings Settings
	log      *slog.Logger
}

// New makes the admin handlers; zero settings take DefaultSettings' values.
func New(d Deps, s Settings) *Handler {
	def := DefaultSettings
	if s.PageSize <= 0 {
		s.PageSize = def.PageSize
	}
	if s.ExportChunk <= 0 {
		s.ExportChunk = def.ExportChunk
	}
	if s.DeleteChunk <= 0 {
		s.DeleteChunk = def.DeleteChunk
	}
	if s.MaxSelected <= 0 {
		s.MaxSelected = def.MaxSelected
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	return &Handler{store: d.Store, layer: d.Layer, rooms: d.Rooms, conns: d.Connections, view: d.View,
		settings: s, log: log}
}

// layout is the site's base template; admin pages render inside it.
const layout = "layouts/base"

// render writes an admin page in the site's layout.
func (h *Handler) render(c *fiber.Ctx, page string, data fiber.Map) error {
	return c.Status(fiber.StatusOK).Render(page, data, layout)
}

// page starts an admin page's data: the site's view plus which admin section is open.
func (h *Handler) page(c *fiber.Ctx, title, section string) fiber.Map {
	data := h.view(c, title+" · admin")
	data["Section"] = section
	data["IsSuperuser"] = currentUser(c).IsSuperuser
	return data
}

// currentUser is the logged-in user (never nil behind requireStaff).
func currentUser(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(channels.LocalUser).(*models.User)
	return u
}

var (
	_ Store       = (*store.Store)(nil)
	_ Connections = (*channels.Server)(nil)
	_ Layer       = layer.Layer(nil)
)
