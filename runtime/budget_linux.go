package runtime

import "syscall"

// availableMemory is the smaller of physical memory and RLIMIT_AS, in bytes.
func availableMemory() int64 {
	var si syscall.Sysinfo_t
	var avail int64
	if syscall.Sysinfo(&si) == nil {
		avail = int64(si.Totalram) * int64(si.Unit)
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil && rl.Cur != ^uint64(0) && rl.Cur < 1<<62 {
		if avail <= 0 || int64(rl.Cur) < avail {
			avail = int64(rl.Cur)
		}
	}
	return avail
}
