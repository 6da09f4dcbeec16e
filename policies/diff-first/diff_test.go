package main

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
)

func TestGolden(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			got := policytest.RunNative(t, "diff-first", abi.StageRequest, c, nil, abi.ConfigureHandler(configure), onRequest)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}

func TestIsEditRequest(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Fix the bug in main.go", true},
		{"please update the handler so it returns 404", true},
		{"Add a test for the parser", true},
		{"What does this function do?", false},
		{"fix my life", false},
		{"Explain the code", false},
		{"Rename `x` in ```go\nx := 1\n```", true},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := isEditRequest([]byte(tt.text)); got != tt.want {
				t.Fatalf("isEditRequest(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for cfg, want := range map[string]string{
		``:                 "",
		`{}`:               "",
		`{"rule":"diffs"}`: "",
		`{"rule":""}`:      "non-empty",
		`{"rule":3}`:       "non-empty",
		`"x"`:              "JSON object",
	} {
		if got := configure([]byte(cfg)); (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Fatalf("configure(%s) = %q, want %q", cfg, got, want)
		}
	}
}
