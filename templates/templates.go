// Package templates holds the HTML page templates (Go html/template syntax) rendered by the
// Fiber html engine. Every page is rendered inside layouts/base, which calls {{embed}}.
package templates

import "embed"

// FS holds the page templates, embedded so the binary runs from any directory.
//
//go:embed *.html layouts/*.html admin/*.html
var FS embed.FS
