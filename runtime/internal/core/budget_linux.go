package core

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// availableMemory is the memory the process may still use, in bytes: the
// smaller of physical memory and what the address-space limit (RLIMIT_AS,
// ulimit -v) leaves past the address space the process already reserves.
// The Go runtime reserves most of a gigabyte of address space before it
// allocates anything, so under `ulimit -v 4G` about 3 GiB remain, not 4.
func availableMemory() int64 {
	var si syscall.Sysinfo_t
	var avail int64
	if syscall.Sysinfo(&si) == nil {
		avail = int64(si.Totalram) * int64(si.Unit)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur != ^uint64(0) && rl.Cur < 1<<62 {
		left := int64(rl.Cur) - vmSize()
		if avail <= 0 || left < avail {
			avail = max(left, 1)
		}
	}
	return avail
}

// vmSize is the process's address space in bytes (VmSize in
// /proc/self/status), 0 if unknown.
func vmSize() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
