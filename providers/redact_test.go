package providers

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers/providertest"
)

// testKeys are the key shapes of the end-to-end tests, plus one at the
// floor.
var testKeys = append([]struct{ Name, Key string }{{"floor", "k3y!"}}, providertest.KeyShapes...)

func TestRedactorRemovesEveryEncoding(t *testing.T) {
	t.Parallel()
	for _, tk := range testKeys {
		t.Run(tk.Name, func(t *testing.T) {
			t.Parallel()
			r := NewRedactor(tk.Key)
			texts := []string{providertest.EchoMessage(tk.Key, "Authorization: Bearer "+tk.Key)}
			for _, f := range providertest.KeyForms(tk.Key) {
				if len(tk.Key) < 5 && strings.HasPrefix(f, "Z2F0ZXdhe") {
					continue
				}
				texts = append(texts, "before "+f+" after", f)
			}
			// Inside the base64 of a longer text, at every alignment (for
			// keys long enough to leave 6 characters of their own).
			inside := []string{"u:", "us:", "use:", `{"api_key":"`}
			if len(tk.Key) < 5 {
				inside = nil
			}
			for _, pre := range inside {
				texts = append(texts, "auth "+base64.StdEncoding.EncodeToString([]byte(pre+tk.Key+`"}`)))
				texts = append(texts, "auth "+base64.RawURLEncoding.EncodeToString([]byte(pre+tk.Key+`"}`)))
			}
			// A JSON document that quotes the key, as a relayed body would.
			doc, _ := json.Marshal(map[string]string{"message": "bad key " + tk.Key})
			texts = append(texts, string(doc))
			for _, text := range texts {
				for name, out := range map[string]string{"String": r.String(text), "Bytes": string(r.Bytes([]byte(text)))} {
					if !strings.Contains(out, Redacted) {
						t.Errorf("%s(%q) = %q: nothing redacted", name, text, out)
					}
					for _, f := range providertest.KeyForms(tk.Key) {
						if len(tk.Key) < 5 && strings.HasPrefix(f, "Z2F0ZXdhe") {
							continue // base64 inside "gateway:key": see inside
						}
						if strings.Contains(out, f) {
							t.Errorf("%s(%q) = %q still holds %q", name, text, out, f)
						}
					}
					for _, pre := range inside[:len(inside)*3/4] {
						enc := base64.StdEncoding.EncodeToString([]byte(pre + tk.Key))
						if mid := enc[4 : len(enc)-4]; len(mid) >= 6 && strings.Contains(out, mid) {
							t.Errorf("%s(%q) = %q still holds the base64 of %q", name, text, out, pre+tk.Key)
						}
					}
				}
			}
		})
	}
}

func TestRedactorKeepsOtherText(t *testing.T) {
	t.Parallel()
	r := NewRedactor("0123456789abcdef0123456789abcdef")
	tests := []struct{ name, in, want string }{
		{"no secret", "model gpt-4o not found", "model gpt-4o not found"},
		{"foreign key masked by prefix", "Incorrect API key provided: sk-proj-abc123. See docs.", "Incorrect API key provided: sk-***********. See docs."},
		{"prefix inside a word is not a key", "a task-force of risk-averse users", "a task-force of risk-averse users"},
		{"key and foreign key", "keys 0123456789abcdef0123456789abcdef and AIzaSyA1", "keys [REDACTED] and AIza****"},
		{"bearer form", "got Authorization: Bearer 0123456789abcdef0123456789abcdef", "got Authorization: Bearer [REDACTED]"},
		{"repeated", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef!", "[REDACTED]!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := r.String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := string(r.Bytes([]byte(tt.in))); got != tt.want {
				t.Errorf("Bytes(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRedactorShortKeys: below MinSecretLen only the Bearer form goes, and
// only as a whole token.
func TestRedactorShortKeys(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, key, in, want string }{
		{"one byte: text kept", "a", "a model is not a key", "a model is not a key"},
		{"one byte: bearer form", "a", "header Bearer a refused", "header Bearer [REDACTED] refused"},
		{"three bytes: longer token kept", "abc", "Bearer abcdef", "Bearer abcdef"},
		{"three bytes: at the end", "abc", "Bearer abc", "Bearer [REDACTED]"},
		{"floor: everywhere", "k3y!", "the k3y! is wrong", "the [REDACTED] is wrong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NewRedactor(tt.key).String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRedactorKeepsJSONValid: a relayed error event stays valid JSON when
// the key is quoted in it, however the encoder escaped it.
func TestRedactorKeepsJSONValid(t *testing.T) {
	t.Parallel()
	for _, tk := range testKeys {
		t.Run(tk.Name, func(t *testing.T) {
			t.Parallel()
			r := NewRedactor(tk.Key)
			goJSON, _ := json.Marshal(map[string]any{"error": map[string]string{"message": "bad key " + tk.Key + "!"}})
			minimal := `{"error":{"message":` + string(jsonscan.AppendQuote(nil, "bad key "+tk.Key+"!")) + `}}`
			for _, doc := range []string{string(goJSON), minimal} {
				out := r.Bytes([]byte(doc))
				if err := jsonscan.Validate(out); err != nil {
					t.Errorf("Bytes(%s) = %s: %v", doc, out, err)
				}
				if strings.Contains(string(out), tk.Key) {
					t.Errorf("Bytes(%s) = %s holds the key", doc, out)
				}
			}
		})
	}
}

func TestRedactorError(t *testing.T) {
	t.Parallel()
	const key = "3f2b8c1e-9a4d-4e6f-b2c7-1d8e5a9f0b3c"
	r := NewRedactor(key)
	e := r.Error(&UpstreamError{Status: 502, Message: "upstream x: bad key " + key, Type: key, Code: "c", Param: "key=" + key,
		Err: errors.Join(ErrTimeout, errors.New("dial https://h/?key="+key))})
	all := fmt.Sprintf("%s %s %s %s %v %+v", e.Message, e.Type, e.Code, e.Param, e.Err, e)
	if strings.Contains(all, key) {
		t.Fatalf("error still holds the key: %s", all)
	}
	if !errors.Is(e, ErrTimeout) {
		t.Errorf("the redacted error lost its identity: %v", e.Err)
	}
	plain := errors.New("no secret here")
	if e := r.Error(&UpstreamError{Err: plain}); e.Err != plain {
		t.Errorf("an error without a secret was replaced: %v", e.Err)
	}
}

func TestSecretHeadersAndQuery(t *testing.T) {
	t.Parallel()
	basic := base64.StdEncoding.EncodeToString([]byte("svc:p4ssw0rd"))
	got := SecretHeaders(map[string]string{
		"CF-Access-Client-Secret": "cf-secret-1", "Authorization": "Basic " + basic,
		"X-Trace": "not-a-secret", "api-key": "azure-key-1",
	})
	want := map[string]bool{"cf-secret-1": true, "Basic " + basic: true, basic: true, "svc:p4ssw0rd": true, "p4ssw0rd": true, "azure-key-1": true}
	if len(got) != len(want) {
		t.Errorf("SecretHeaders = %q, want %d values", got, len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("SecretHeaders returned %q", g)
		}
	}
	q := SecretQuery("api-version=2024-10-21&code=fn-secret&sig=abc%2Fdef")
	if strings.Join(q, ",") != "fn-secret,abc/def" && strings.Join(q, ",") != "abc/def,fn-secret" {
		t.Errorf("SecretQuery = %q", q)
	}
}

// TestRedactorNoSecretAllocs: text without a secret costs no allocation.
func TestRedactorNoSecretAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	r := NewRedactor("0123456789abcdef0123456789abcdef", "ab/cd+ef=gh/ij+kl==")
	s := `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
	b := []byte(s)
	if n := testing.AllocsPerRun(100, func() {
		_ = r.String(s)
		_ = r.Bytes(b)
	}); n != 0 {
		t.Fatalf("%v allocations per call on text without a secret, want 0", n)
	}
}

// FuzzRedact: a secret of at least MinSecretLen bytes never survives, raw or
// JSON-quoted or base64-encoded, wherever it sits in the text.
func FuzzRedact(f *testing.F) {
	f.Add("0123456789abcdef", "prefix ", " suffix")
	f.Add("ab/cd+ef=", `{"m":"`, `"}`)
	f.Add("clé🔑", "", "")
	f.Add("aaaa", "aaa", "aaaaa")
	f.Fuzz(func(t *testing.T, key, pre, post string) {
		// A key that shares bytes with the replacement could be re-formed
		// around it ("b[REDA" in "ab[REDACTED]"): not a key anyone has.
		if len(key) < MinSecretLen || strings.ContainsAny(key, "[]") || strings.Contains(Redacted, key) {
			return
		}
		// A header value holds no control character but tab (RFC 9110,
		// 5.5), and a key is sent in a header.
		for _, c := range []byte(key) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return
			}
		}
		r := NewRedactor(key)
		q, _ := json.Marshal(key)
		for _, form := range []string{key, string(q[1 : len(q)-1]), base64.StdEncoding.EncodeToString([]byte(key))} {
			out := r.String(pre + form + post)
			if strings.Contains(out, form) {
				t.Fatalf("String(%q) = %q still holds %q", pre+form+post, out, form)
			}
			if string(r.Bytes([]byte(pre+form+post))) != out {
				t.Fatalf("Bytes and String disagree on %q", pre+form+post)
			}
		}
	})
}
