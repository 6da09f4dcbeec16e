package unsafeconv

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, s := range []string{"", "a", "héllo, world"} {
		b := Bytes(s)
		if string(b) != s || String(b) != s {
			t.Fatalf("%q: Bytes %q, String %q", s, b, String(b))
		}
	}
	if Bytes("") != nil {
		t.Fatal(`Bytes("") is not nil`)
	}
	if String(nil) != "" || String([]byte{}) != "" {
		t.Fatal("String of an empty slice is not empty")
	}
	// No copy: the string sees a change to the slice's bytes.
	b := []byte("abc")
	s := String(b)
	b[0] = 'x'
	if s != "xbc" {
		t.Fatalf("String copied: %q", s)
	}
}

func TestConversionsAllocateNothingAllocs(t *testing.T) {
	b, s := []byte("hello"), "world"
	var sink int
	if n := testing.AllocsPerRun(100, func() { sink += len(String(b)) + len(Bytes(s)) }); n != 0 {
		t.Fatalf("%.1f allocations", n)
	}
	_ = sink
}
