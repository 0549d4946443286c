//go:build linux

package loadtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// diskWrites reads what a process wrote to storage: writing and syncing 1 MiB to a file on a
// disk-backed file system adds at least that much to the test process's own count.
func TestDiskWritesCountsOwnWrites(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/<pid>/io here:", err)
	}
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil && fs.Type == 0x01021994 { // TMPFS_MAGIC
		t.Skip("the temporary directory is on tmpfs, whose writes reach no storage")
	}
	if _, ok := diskWrites(0); ok {
		t.Fatal("pid 0 must read as unknown")
	}
	before, ok := diskWrites(os.Getpid())
	if !ok {
		t.Fatal("could not read the test process's own /proc/<pid>/io")
	}
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	after, _ := diskWrites(os.Getpid())
	if got := after - before; got < 1<<20 {
		t.Fatalf("diskWrites grew by %d bytes after writing 1 MiB, want at least 1 MiB", got)
	}
}
