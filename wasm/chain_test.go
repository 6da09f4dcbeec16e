package wasm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
)

func TestParsePosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Position
		err  bool
	}{
		{"", Position{}, false},
		{"last", Position{Kind: PositionLast}, false},
		{"first", Position{Kind: PositionFirst}, false},
		{"before:router", Position{Kind: PositionBefore, Ref: "router"}, false},
		{"after:stripper", Position{Kind: PositionAfter, Ref: "stripper"}, false},
		{"before:", Position{}, true},
		{"before:Bad Name", Position{}, true},
		{"instead:router", Position{}, true},
		{"top", Position{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePosition(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParsePosition(%q) = %+v, %v", tt.in, got, err)
			}
			if err == nil && got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestUploadPositions: an upload of a new name lands at the end of its
// chains and says so; a position puts it before the configured router (or
// first) so that it decides; the position survives a restart and goes with
// a Delete; a configured policy keeps gateway.toml's order.
func TestUploadPositions(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := []PolicyConfig{{Name: "router", Module: testdata("echo.wasm"), Stages: []string{"route"}}}
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	fixed := readTestdata(t, "fixed.wasm")
	chain := func(h *Host) string { return strings.Join(h.Chain(abi.StageRoute), ",") }

	info, err := h.Upload("urgent", fixed)
	if err != nil {
		t.Fatal(err)
	}
	if chain(h) != "router,urgent" || info.Positions["route"] != 2 || len(info.Placement) != 1 ||
		info.Placement[0] != "route: 2 of 2, runs only when router made no decision" {
		t.Fatalf("default place: chain %s, info %+v", chain(h), info)
	}
	if got := routeModel(t, h); got != "mock/echo" {
		t.Fatalf("the configured router decides first: got %s", got)
	}

	for _, tt := range []struct {
		pos, chain string
	}{
		{"before:router", "urgent,router"},
		{"last", "router,urgent"},
		{"first", "urgent,router"},
	} {
		pos, _ := ParsePosition(tt.pos)
		info, err := h.UploadAt("urgent", fixed, pos)
		if err != nil || chain(h) != tt.chain || info.Position != strings.TrimSuffix(tt.pos, "last") {
			t.Fatalf("%s: chain %s, %+v, %v", tt.pos, chain(h), info, err)
		}
	}
	if got := routeModel(t, h); got != "fixed/model" {
		t.Fatalf("urgent first: got %s", got)
	}
	if info, _ := h.Get("urgent"); info.Placement[0] != "route: 1 of 2, decides first" {
		t.Fatalf("placement %q", info.Placement)
	}
	// Re-uploading without a position keeps the place.
	if _, err := h.Upload("urgent", fixed); err != nil || chain(h) != "urgent,router" {
		t.Fatalf("re-upload: %s %v", chain(h), err)
	}
	chains := h.Chains()
	if len(chains) != 3 || chains[1].Stage != "route" || strings.Join(chains[1].Policies, ",") != "urgent,router" ||
		!strings.Contains(chains[1].Decides, "first policy that sets a route") {
		t.Fatalf("Chains() = %+v", chains)
	}

	// A restart keeps the position.
	h2 := newHost(t, Options{DataDir: data})
	if err := h2.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if chain(h2) != "urgent,router" {
		t.Fatalf("after restart: %s", chain(h2))
	}

	for _, tt := range []struct {
		name, pos string
	}{
		{"router", "first"},       // configured: gateway.toml decides
		{"urgent", "before:nope"}, // no such policy
		{"urgent", "after:urgent"},
	} {
		pos, _ := ParsePosition(tt.pos)
		if _, err := h.UploadAt(tt.name, fixed, pos); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("UploadAt(%s, %s) = %v, want ErrInvalidConfig", tt.name, tt.pos, err)
		}
	}

	if err := h.Delete("urgent"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "policies", "urgent.position")); !os.IsNotExist(err) {
		t.Fatalf("position file left after Delete: %v", err)
	}
	if chain(h) != "router" {
		t.Fatalf("after delete: %s", chain(h))
	}
}
