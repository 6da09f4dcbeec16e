package memtrim

import (
	"bufio"
	"os"
	"syscall"
	"testing"
)

// imageRSS sums the resident bytes of the executable's read-only mappings,
// reading /proc/self/smaps the way DropImage does.
func imageRSS(t *testing.T) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sum uint64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := parseMapsLine(sc.Bytes()); ok {
			in = m.ino == st.Ino && m.dev == st.Dev && !m.writable
			continue
		}
		if kb, ok := smapsField(sc.Bytes(), "Rss:"); ok && in {
			sum += kb << 10
		}
	}
	return sum
}

// DropImage unmaps the binary's pages and the process goes on running:
// what it touches again comes back from the file.
func TestDropImageUnmapsTheBinary(t *testing.T) {
	before := imageRSS(t)
	if before == 0 {
		t.Fatal("no resident page of the executable found in /proc/self/smaps: the mapping was not recognised")
	}
	got := DropImage()
	after := imageRSS(t) // this call runs code and reads tables again
	if got < before/2 || after >= before {
		t.Fatalf("image resident %d KiB before, DropImage reported %d KiB, %d KiB after", before>>10, got>>10, after>>10)
	}
}

// smaps' field lines are not mapping headers, and headers parse whatever
// their path.
func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
		w    bool
	}{
		{"7f0d71800000-7f0d72000000 rw-s 00000000 fe:00 10152080   /data/journal.bin", true, true},
		{"2c12bd800000-2c12c0800000 rw-p 00000000 00:00 0 ", true, true},
		{"01587000-03aa4000 r--p 01187000 103:02 77 /opt/gw (deleted)", true, false},
		{"Rss:                  12 kB", false, false},
		{"VmFlags: rd ex mr mw me dw sd", false, false},
	} {
		m, ok := parseMapsLine([]byte(tc.line))
		if ok != tc.ok || (ok && m.writable != tc.w) {
			t.Errorf("%q: ok %v writable %v, want %v %v", tc.line, ok, m.writable, tc.ok, tc.w)
		}
	}
	if m, ok := parseMapsLine([]byte("00400000-01587000 r-xp 00000000 fe:01 10002544   /usr/bin/gateway")); !ok ||
		m.start != 0x400000 || m.end != 0x1587000 || m.writable || m.ino != 10002544 || m.dev != mkdev(0xfe, 1) {
		t.Fatalf("parseMapsLine = %+v, %v", m, ok)
	}
	if kb, ok := smapsField([]byte("Anonymous:           4 kB"), "Anonymous:"); !ok || kb != 4 {
		t.Errorf("smapsField = %d, %v", kb, ok)
	}
}
