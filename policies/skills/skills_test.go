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
			got := policytest.RunNative(t, "skills", abi.StageRequest, c, nil, abi.ConfigureHandler(configure), onRequest)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name, cfg, wantErr string
		wantSkills         int
	}{
		{name: "empty means defaults", cfg: "", wantSkills: 8},
		{name: "null", cfg: "null", wantSkills: 8},
		{name: "add one", cfg: `{"skills":[{"id":"sql","template":"SQL only."}]}`, wantSkills: 9},
		{name: "override one", cfg: `{"skills":[{"id":"Quick-Fix","template":"t"}]}`, wantSkills: 8},
		{name: "no defaults", cfg: `{"defaults":false,"skills":[{"id":"a","template":"t"}]}`, wantSkills: 1},
		{name: "not an object", cfg: `[1]`, wantErr: "JSON object"},
		{name: "bad defaults", cfg: `{"defaults":"yes"}`, wantErr: "boolean"},
		{name: "bad id", cfg: `{"skills":[{"id":"a b","template":"t"}]}`, wantErr: "must match"},
		{name: "empty template", cfg: `{"skills":[{"id":"a","template":""}]}`, wantErr: "template"},
		{name: "skills not array", cfg: `{"skills":{}}`, wantErr: "array"},
		{name: "id not string", cfg: `{"skills":[{"id":3,"template":"t"}]}`, wantErr: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := configure([]byte(tt.cfg))
			if tt.wantErr != "" {
				if !strings.Contains(msg, tt.wantErr) {
					t.Fatalf("configure(%s) = %q, want %q", tt.cfg, msg, tt.wantErr)
				}
				return
			}
			if msg != "" || len(skills) != tt.wantSkills {
				t.Fatalf("configure(%s) = %q with %d skills, want %d", tt.cfg, msg, len(skills), tt.wantSkills)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	tests := []struct {
		text, id string
		n        int
	}{
		{"@code-review please", "code-review", 13},
		{"@quick-fix\n\nthe bug", "quick-fix", 12},
		{"@quick-fix", "quick-fix", 10},
		{"@file.ts look", "", 0},
		{"@ nothing", "", 0},
		{"no trigger", "", 0},
		{"@", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			id, n := trigger([]byte(tt.text))
			if string(id) != tt.id || n != tt.n {
				t.Fatalf("trigger(%q) = %q, %d; want %q, %d", tt.text, id, n, tt.id, tt.n)
			}
		})
	}
}
