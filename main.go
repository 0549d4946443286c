// Command chat is a logged-in, multi-room web chat in the style of Django Channels, shipped
// as one binary with its templates, static files and migrations embedded.
package main

import (
	"os"

	"chat/app/cli"
	"chat/app/server"
	"chat/static"
	"chat/templates"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], server.Assets{Templates: templates.FS, Static: static.FS}, os.Stdout, os.Stderr))
}
