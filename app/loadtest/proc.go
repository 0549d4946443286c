package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of CPU times in /proc/<pid>/stat on Linux.
const clockTicks = 100

// serverCPU reads a process's user+system CPU time from /proc; 0 when pid is 0 or unreadable.
func serverCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// readRSS reads a process's resident set size in bytes from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	if pid <= 0 {
		return 0, nil
	}
	kb, err := procValue(pid, "status", "VmRSS")
	return kb * 1024, err
}

// diskWrites reads the bytes a process has caused to be written to storage (write_bytes in
// /proc/<pid>/io: pages the kernel saw it dirty, whether or not they have reached the disk
// yet). ok is false when pid is 0 or the file is unreadable, as it is for another user's
// process without privileges.
func diskWrites(pid int) (n int64, ok bool) {
	if pid <= 0 {
		return 0, false
	}
	n, err := procValue(pid, "io", "write_bytes")
	return n, err == nil
}

// procValue returns the number that follows "key:" in /proc/<pid>/<file>.
func procValue(pid int, file, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/%s", key, pid, file)
}
