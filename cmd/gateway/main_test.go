package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestUsage: `gateway -h` names the policy subcommand next to the flags.
func TestUsage(t *testing.T) {
	var b bytes.Buffer
	fs, _, _, _ := flags(&b)
	if err := fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"gateway policy check|run", "-config", "-listen"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPolicyUsage: `gateway policy` with no subcommand prints its usage and
// exits 2.
func TestPolicyUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := policyCommand(nil, strings.NewReader(""), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "gateway policy run") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
