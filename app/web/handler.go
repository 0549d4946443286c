// Package web serves the HTML pages: accounts, the lobby and rooms, the static assets, and
// the middleware that puts the session and user into every request (and so into the
// websocket scope) before any handler runs.
package web

import (
	"context"
	"log/slog"
	"time"

	"chat/app/layer"
	"chat/app/ratelimit"
	"chat/models"
)

// Store is what the pages need from the database.
type Store interface {
	CreateUser(ctx context.Context, username, passwordHash string) (*models.User, error)
	UserByName(ctx context.Context, username string) (*models.User, error)
	UserByID(ctx context.Context, id int64) (*models.User, error)
	CreateSession(ctx context.Context, sess *models.Session) error
	SessionByKey(ctx context.Context, keyHash string, now time.Time) (*models.Session, error)
	TouchSession(ctx context.Context, keyHash string, now time.Time) error
	DeleteSession(ctx context.Context, keyHash string) error
	DeleteUserSessions(ctx context.Context, userID int64, exceptKeyHash string) (int64, error)
	UserSessionKeys(ctx context.Context, userID int64) ([]string, error)
	SetUserPassword(ctx context.Context, id int64, passwordHash string) error
	RoomByName(ctx context.Context, name string) (*models.Room, error)
	ListRooms(ctx context.Context, limit int) ([]models.Room, error)
	RecentMessages(ctx context.Context, roomID int64, limit int) ([]models.Message, error)
	MarkRead(ctx context.Context, userID, roomID, lastReadID int64) error
	UnreadCounts(ctx context.Context, userID int64, roomIDs []int64) (map[int64]int64, error)
	Ping(ctx context.Context) error
}

// Layer is what the pages need from the channel layer: presence counts for the lobby, and
// group sends that close the sockets of a session that logged out.
type Layer interface {
	PresenceCounts(ctx context.Context) (map[string]int, error)
	GroupSend(ctx context.Context, group string, ev *layer.Event) error
}

// Settings are the page handlers' tunables, taken from config.Config.
type Settings struct {
	SecureCookies   bool
	BcryptCost      int
	SessionMaxAge   time.Duration
	SessionIdleAge  time.Duration
	HistoryPageSize int
	MaxMessageChars int
	LoginRateIP     float64 // failed logins per minute per address
	LoginBurstIP    int
	LoginRateUser   float64 // failed logins per minute per username
	LoginBurstUser  int
}

// Handler holds the dependencies of every page handler.
type Handler struct {
	store       Store
	layer       Layer
	assets      *Assets
	settings    Settings
	log         *slog.Logger
	loginByIP   *ratelimit.Limiter
	loginByUser *ratelimit.Limiter
	// dummyHash is compared against when a login names no known user, so that a wrong
	// username takes as long as a wrong password and does not reveal which names exist.
	dummyHash []byte
}

// New makes the page handlers.
func New(store Store, lay Layer, assets *Assets, settings Settings, log *slog.Logger) (*Handler, error) {
	dummy, err := hashPassword("not a real password, only for timing", settings.BcryptCost)
	if err != nil {
		return nil, err
	}
	return &Handler{
		store: store, layer: lay, assets: assets, settings: settings, log: log, dummyHash: dummy,
		loginByIP:   ratelimit.New(settings.LoginRateIP/60, settings.LoginBurstIP),
		loginByUser: ratelimit.New(settings.LoginRateUser/60, settings.LoginBurstUser),
	}, nil
}

var _ Layer = layer.Layer(nil)
