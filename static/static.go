// Package static holds the stylesheet, script and icon served under /static/.
package static

import "embed"

// FS holds the static assets (CSS, JavaScript, SVG), embedded so the binary runs from any directory.
//
//go:embed *.css *.js *.svg
var FS embed.FS
