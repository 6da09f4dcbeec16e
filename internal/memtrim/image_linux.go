package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// DropImage unmaps the pages of the gateway's own executable that the
// process has mapped in, so that only those it touches again come back.
//
// The resident set counts every page of the binary mapped into the
// process, and the kernel maps far more than start-up uses: each fault on
// the binary maps the pages around it too (fault-around, 64 KiB by
// default, more for large folios), so starting, compiling the policies and
// serving a first request leave 25–35 MB of a 60 MB binary resident, of
// which a gateway at work touches about 12 MB. The pages are clean copies
// of the file: dropping them frees nothing the page cache shares with
// other processes and loses nothing; a page touched later comes back with
// a minor fault (no disk read while the file stays cached).
//
// Only read-only mappings of the executable's own inode are dropped, and
// only those without anonymous (copy-on-write) pages, whose content the
// file no longer holds. It returns the resident bytes of the mappings it
// dropped, as /proc/self/smaps counted them just before.
func DropImage() uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var (
		dropped      uint64
		cur          imageMapping
		inImage, bad bool
	)
	flush := func() {
		if inImage && !bad && cur.end > cur.start {
			_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, cur.start, cur.end-cur.start, syscall.MADV_DONTNEED)
			if errno == 0 {
				dropped += cur.rss
			}
		}
		inImage, bad, cur = false, false, imageMapping{}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if m, ok := parseMapsLine(line); ok { // a new mapping's header
			flush()
			inImage = m.ino == st.Ino && m.dev == st.Dev && !m.writable
			cur = m
			continue
		}
		if !inImage {
			continue
		}
		if kb, ok := smapsField(line, "Rss:"); ok {
			cur.rss = kb << 10
		} else if kb, ok := smapsField(line, "Anonymous:"); ok && kb > 0 {
			bad = true
		}
	}
	flush()
	return dropped
}

// imageMapping is one line of /proc/PID/maps, as far as DropImage needs it.
type imageMapping struct {
	start, end uintptr
	dev, ino   uint64
	writable   bool
	rss        uint64
}

// parseMapsLine reads a maps header: "start-end perms offset major:minor
// inode [path]". Other smaps lines ("Rss:  12 kB") do not parse.
func parseMapsLine(line []byte) (imageMapping, bool) {
	var m imageMapping
	f := bytes.Fields(line)
	if len(f) < 5 {
		return m, false
	}
	lo, hi, ok := bytes.Cut(f[0], []byte{'-'})
	if !ok {
		return m, false
	}
	start, err1 := strconv.ParseUint(string(lo), 16, 64)
	end, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || len(f[1]) != 4 {
		return m, false
	}
	major, minor, ok := bytes.Cut(f[3], []byte{':'})
	if !ok {
		return m, false
	}
	maj, err1 := strconv.ParseUint(string(major), 16, 32)
	min, err2 := strconv.ParseUint(string(minor), 16, 32)
	ino, err3 := strconv.ParseUint(string(f[4]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return m, false
	}
	m.start, m.end = uintptr(start), uintptr(end)
	m.writable = f[1][1] == 'w'
	m.dev = mkdev(maj, min)
	m.ino = ino
	return m, true
}

// mkdev packs a device number the way Linux's new_encode_dev does, which
// is what stat(2) reports in st_dev on glibc and Go's syscall package.
func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

// smapsField reads "Name:   123 kB".
func smapsField(line []byte, name string) (uint64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(name))
	if !ok {
		return 0, false
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(f[0]), 10, 64)
	return n, err == nil
}
