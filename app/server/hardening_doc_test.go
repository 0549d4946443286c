package server_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The hardening report (docs/hardening.md) names the tests that back each of its lines. This
// test keeps it true: every test or fuzz target it names in backticks exists in some _test.go
// file of the repository, every fuzz target of the repository is in it, and so is every test
// of hostile_test.go and session_expiry_test.go. Renaming a test, or adding a fuzz target or a
// hostile-input test, fails here until the report says so.

const (
	hardeningDoc = "../../docs/hardening.md"
	repoRoot     = "../.."
)

var (
	docNameRE  = regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)`")
	testFuncRE = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]*)\(`)
)

// repoTestFuncs maps every Test and Fuzz function in the repository's _test.go files to the
// files (relative to the repository) that define it.
func repoTestFuncs(t *testing.T) map[string][]string {
	t.Helper()
	funcs := map[string][]string{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		for _, m := range testFuncRE.FindAllStringSubmatch(string(src), -1) {
			funcs[m[1]] = append(funcs[m[1]], filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the repository: %v", err)
	}
	if len(funcs) == 0 || funcs["TestHardeningDocNamesRealTests"] == nil {
		t.Fatalf("found no tests under %s (%d names): is the path right?", repoRoot, len(funcs))
	}
	return funcs
}

func TestHardeningDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile(hardeningDoc)
	if err != nil {
		t.Fatalf("reading the hardening report: %v", err)
	}
	named := map[string]bool{}
	for _, m := range docNameRE.FindAllStringSubmatch(string(doc), -1) {
		named[m[1]] = true
	}
	if len(named) < 20 {
		t.Fatalf("the report names only %d tests; is it the report?", len(named))
	}
	funcs := repoTestFuncs(t)

	t.Run("every name in the report is a test", func(t *testing.T) {
		for _, name := range sortedKeys(named) {
			if funcs[name] == nil {
				t.Errorf("docs/hardening.md names `%s`, but no _test.go file defines func %s(", name, name)
			}
		}
	})

	t.Run("every fuzz target is in the report", func(t *testing.T) {
		n := 0
		for _, name := range sortedKeys(funcs) {
			if !strings.HasPrefix(name, "Fuzz") {
				continue
			}
			n++
			if !named[name] {
				t.Errorf("fuzz target %s (%s) is missing from the Fuzz targets of docs/hardening.md", name, strings.Join(funcs[name], ", "))
			}
		}
		if n == 0 {
			t.Error("found no fuzz targets in the repository")
		}
	})

	t.Run("every hostile-input and session-expiry test is in the report", func(t *testing.T) {
		for _, file := range []string{"hostile_test.go", "session_expiry_test.go", "hardening_doc_test.go"} {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range testFuncRE.FindAllStringSubmatch(string(src), -1) {
				if !named[m[1]] {
					t.Errorf("%s (app/server/%s) is missing from docs/hardening.md", m[1], file)
				}
			}
		}
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
