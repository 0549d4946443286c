// Package browsertest drives the chat in a real browser: headless Chromium, controlled with
// chromedp over the DevTools protocol, against a real server (apptest) with a real SQLite
// file. Each person in a test is a separate browser context with its own cookie jar.
//
// The tests skip when no browser is installed (apt-get install chromium, or set CHAT_CHROME
// to its path); with CHAT_REQUIRE_BROWSER=1 they fail instead. CHAT_SCREENSHOTS=1 also
// rewrites the screenshots in docs/.
package browsertest
