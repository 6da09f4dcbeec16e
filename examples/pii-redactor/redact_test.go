package main

import (
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/wasm"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail jane.doe@example.com now", "mail [EMAIL] now"},
		{"call +1 415-555-0132 today", "call [PHONE] today"},
		{"or (415) 555-0132.", "or [PHONE]."},
		{"card 4111 1111 1111 1111 exp", "card [CARD] exp"},
		{"ssn 123-45-6789", "ssn [SSN]"},
		{"key sk-abcdefghijklmnopqrstuvwxyz012", "key [SECRET]"},
		{"a@b.co and c@d.org", "[EMAIL] and [EMAIL]"},
		{"order 1234567890123 shipped", "order 1234567890123 shipped"},
		{"version 1.2.3 on 2024-01-05", "version 1.2.3 on 2024-01-05"},
		{"user@localhost", "user@localhost"},
		{"x4111111111111111", "x4111111111111111"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			in := &wasm.Input{}
			in.AddMessage([]byte("user"), []byte(tt.in), 0)
			in.AddMessage([]byte("assistant"), []byte("jane@example.com stays"), 0)
			var out wasm.Output
			if st := wasm.RunNative("pii", abi.StageRequest, nil, in, &out, redact); st != abi.StatusOK {
				t.Fatal(st)
			}
			got := tt.in
			for _, m := range out.Messages() {
				if m.Orig == 0 {
					got = string(m.Text)
				}
				if m.Orig == 1 && m.Changed {
					t.Fatal("an assistant message was redacted")
				}
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
