package limits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		err         error
		want        Class
		retryable   bool
		canFallBack bool
	}{
		{"nil", nil, ClassOK, false, false},
		{"400", err400, ClassClient, false, false},
		{"404", err404, ClassClient, false, false},
		{"413", &providers.UpstreamError{Status: 413}, ClassClient, false, false},
		{"429", err429, ClassRateLimited, true, true},
		{"429 wrapped", fmt.Errorf("chat: %w", err429), ClassRateLimited, true, true},
		{"502 from upstream 500", err502, ClassUnavailable, true, true},
		{"503 overloaded (Anthropic 529)", err503, ClassUnavailable, true, true},
		{"529 unmapped", &providers.UpstreamError{Status: 529}, ClassUnavailable, true, true},
		{"504 timeout", err504, ClassUnavailable, true, true},
		{"408", &providers.UpstreamError{Status: 408}, ClassUnavailable, true, true},
		{"501 not implemented", &providers.UpstreamError{Status: 501}, ClassClient, false, false},
		{"connection refused", errRef, ClassUnavailable, true, true},
		{"upstream key refused", errAut, ClassAuth, false, true},
		{"status 0 wrapping timeout", &providers.UpstreamError{Err: providers.ErrTimeout}, ClassUnavailable, true, true},
		{"bare ECONNRESET net error", netErr, ClassUnavailable, true, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, ClassUnavailable, true, true},
		{"deadline", context.DeadlineExceeded, ClassUnavailable, true, true},
		{"canceled", context.Canceled, ClassCanceled, false, false},
		{"canceled wrapped", fmt.Errorf("x: %w", context.Canceled), ClassCanceled, false, false},
		{"breaker open", newOpenError("p", "", time.Second), ClassOpen, false, true},
		{"final beats 502", Final(err502), ClassFinal, false, false},
		{"skip", Skip(errors.New("provider busy")), ClassSkip, false, true},
		{"unknown error", errors.New("something else"), ClassClient, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Classify(tt.err)
			if c != tt.want {
				t.Fatalf("Classify(%v) = %v, want %v", tt.err, c, tt.want)
			}
			if c.Retryable() != tt.retryable || c.CanFallBack() != tt.canFallBack {
				t.Fatalf("%v: Retryable %v CanFallBack %v, want %v %v", c, c.Retryable(), c.CanFallBack(), tt.retryable, tt.canFallBack)
			}
		})
	}
}

func TestOpenErrorMapsTo503(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		after     time.Duration
		wantSecs  int
		wantModel string
	}{
		{"sub-second rounds up to 1", 300 * time.Millisecond, 1, ""},
		{"exact seconds", 30 * time.Second, 30, ""},
		{"fraction rounds up", 12*time.Second + time.Millisecond, 13, "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error = newOpenError("openai", tt.wantModel, tt.after)
			if !errors.Is(err, ErrOpen) {
				t.Fatal("errors.Is(err, ErrOpen) = false")
			}
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatal("OpenError does not unwrap to *providers.UpstreamError")
			}
			if ue.Status != 503 || ue.Code != "circuit_open" || ue.RetryAfter != time.Duration(tt.wantSecs)*time.Second {
				t.Fatalf("got status %d code %q retry-after %v", ue.Status, ue.Code, ue.RetryAfter)
			}
			var oe *OpenError
			if !errors.As(err, &oe) || oe.RetryAfterSeconds() != tt.wantSecs {
				t.Fatalf("RetryAfterSeconds() = %d, want %d", oe.RetryAfterSeconds(), tt.wantSecs)
			}
			if err.Error() == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestMarkersKeepTheCause(t *testing.T) {
	t.Parallel()
	if Final(nil) != nil || Skip(nil) != nil {
		t.Fatal("marking nil must give nil")
	}
	var ue *providers.UpstreamError
	if !errors.As(Final(err502), &ue) || ue != err502 {
		t.Fatal("Final hides the upstream error")
	}
	if Skip(err400).Error() != err400.Error() {
		t.Fatal("Skip changes the message")
	}
}
