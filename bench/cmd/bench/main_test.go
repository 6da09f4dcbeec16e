package main

import "testing"

func TestRecordedCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, command string
		args          []string
		want          string
	}{
		{name: "plain-make", command: "make bench", args: []string{"-command", "make bench"}, want: "make bench"},
		{name: "quick", command: "make bench-quick", args: []string{"-quick", "-command", "make bench-quick"}, want: "make bench-quick"},
		{name: "headers", command: "make bench", args: []string{"-command=make bench", "-compare-header", "x-portkey-provider: openai"},
			want: `make bench BENCH_FLAGS='-compare-header '\''x-portkey-provider: openai'\'''`},
		{name: "go-run", args: []string{"-only", "open-5000"}, want: "go run ./bench/cmd/bench -only open-5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := recordedCommand(tc.command, tc.args); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
