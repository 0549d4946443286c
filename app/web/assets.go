package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
)

// Assets are the static files, each served under a name carrying a hash of its content
// ("app.3f2a9c1b.css"), so browsers may cache them for a year and still see every change.
type Assets struct {
	byURLName map[string]asset // hashed and plain names
	urls      map[string]string
}

type asset struct {
	body        []byte
	contentType string
	immutable   bool
}

// LoadAssets reads every file at the top of fsys.
func LoadAssets(fsys fs.FS) (*Assets, error) {
	a := &Assets{byURLName: map[string]asset{}, urls: map[string]string{}}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".go") {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:10] + ext
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.byURLName[hashed] = asset{body: body, contentType: ctype, immutable: true}
		a.byURLName[name] = asset{body: body, contentType: ctype}
		a.urls[name] = "/static/" + hashed
	}
	return a, nil
}

// URL is the template function "static": the hashed URL of a file.
func (a *Assets) URL(name string) string {
	if u, ok := a.urls[name]; ok {
		return u
	}
	return "/static/" + name
}
