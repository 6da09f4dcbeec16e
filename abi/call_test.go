package abi

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// fakeHost is a minimal Imports for testing the SDK's protocol handling; the
// full host semantics are tested in package wasm.
type fakeHost struct {
	model   string
	msgs    [][2]string
	getters int // getter invocations, to observe caching
	replace []string
	routes  []string
	body    []byte
	feats   uint64 // 0: FeaturesV1
	removed []string
}

func (h *fakeHost) copyOut(s string, buf []byte) int32 {
	h.getters++
	copy(buf, s)
	return int32(len(s))
}

func (h *fakeHost) Features() uint64 {
	if h.feats != 0 {
		return h.feats
	}
	return FeaturesV1
}
func (h *fakeHost) Flags() uint64                   { return FlagTools }
func (h *fakeHost) Config(b []byte) int32           { return h.copyOut(`{}`, b) }
func (h *fakeHost) Model(b []byte) int32            { return h.copyOut(h.model, b) }
func (h *fakeHost) Project(b []byte) int32          { return h.copyOut("", b) }
func (h *fakeHost) Skill(b []byte) int32            { return h.copyOut("", b) }
func (h *fakeHost) Body(b []byte) int32             { return h.copyOut("{}", b) }
func (h *fakeHost) Response(b []byte) int32         { return int32(StatusNotFound) }
func (h *fakeHost) MessageCount() int32             { return int32(len(h.msgs)) }
func (h *fakeHost) MessageFlags(i int32) int64      { return 0 }
func (h *fakeHost) ToolCount() int32                { return 0 }
func (h *fakeHost) ToolName(int32, []byte) int32    { return int32(StatusOutOfRange) }
func (h *fakeHost) HeaderCount() int32              { return 0 }
func (h *fakeHost) HeaderName(int32, []byte) int32  { return int32(StatusOutOfRange) }
func (h *fakeHost) HeaderValue(int32, []byte) int32 { return int32(StatusOutOfRange) }
func (h *fakeHost) Header(name, b []byte) int32 {
	if strings.EqualFold(string(name), "x-test") {
		return h.copyOut("yes", b)
	}
	return int32(StatusNotFound)
}
func (h *fakeHost) MessageRole(i int32, b []byte) int32 {
	if i < 0 || int(i) >= len(h.msgs) {
		return int32(StatusOutOfRange)
	}
	return h.copyOut(h.msgs[i][0], b)
}
func (h *fakeHost) MessageText(i int32, b []byte) int32 {
	if i < 0 || int(i) >= len(h.msgs) {
		return int32(StatusOutOfRange)
	}
	return h.copyOut(h.msgs[i][1], b)
}
func (h *fakeHost) SetRoute(flags int32, model, reason []byte) int32 {
	h.routes = append(h.routes, strconv.Itoa(int(flags))+" "+string(model)+" "+string(reason))
	return 0
}
func (h *fakeHost) ReplaceText(i, start, end int32, text []byte) int32 {
	h.replace = append(h.replace, strconv.Itoa(int(i))+":"+strconv.Itoa(int(start))+"-"+strconv.Itoa(int(end))+"="+string(text))
	return 0
}
func (h *fakeHost) InsertMessage(int32, []byte, []byte) int32 { return 0 }
func (h *fakeHost) AddTag(k, v []byte) int32                  { return 0 }
func (h *fakeHost) Respond(status int32, body []byte) int32 {
	h.body = append([]byte(nil), body...)
	return 0
}
func (h *fakeHost) SetVerdict(int32, int32, []byte) int32 { return 0 }
func (h *fakeHost) SetError([]byte) int32                 { return 0 }
func (h *fakeHost) ReportRemoved(kind, n int32) int32 {
	h.removed = append(h.removed, strconv.Itoa(int(kind))+":"+strconv.Itoa(int(n)))
	return 0
}

func (h *fakeHost) SetTrigger(spec []byte) int32 { return 0 }

// TestRouteTier checks the tier's place in set_route's flags, and that a
// host without FeatureTier (ABI v1.0) gets the route without it.
func TestRouteTier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		feats uint64
		set   func(c *Call) Status
		want  string
	}{
		{"strong", 0, func(c *Call) Status { return c.SetRouteTier([]byte("m"), TierStrong, []byte("r")) }, "48 m r"},
		{"ambiguous local", 0, func(c *Call) Status { return c.SetAmbiguousTier([]byte("m"), TierLocal, []byte("r")) }, "17 m r"},
		{"no tier", 0, func(c *Call) Status { return c.SetRoute([]byte("m"), []byte("r")) }, "0 m r"},
		{"v1.0 host", FeaturesV1 &^ (FeatureTier | FeatureRemoved), func(c *Call) Status {
			return c.SetAmbiguousTier([]byte("m"), TierReasoning, []byte("r"))
		}, "1 m r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &fakeHost{feats: tt.feats}
			NewCall(h).Run(tt.set)
			if len(h.routes) != 1 || h.routes[0] != tt.want {
				t.Fatalf("set_route calls = %q, want %q", h.routes, tt.want)
			}
		})
	}
	for tier := TierNone; tier <= TierReasoning; tier++ {
		if got := Tier(RouteTier(tier) >> RouteTierShift); got != tier {
			t.Fatalf("RouteTier(%d) round-trips to %d", tier, got)
		}
		if p, ok := ParseTier(tier.String()); tier != TierNone && (!ok || p != tier) {
			t.Fatalf("ParseTier(%q) = %d, %v", tier.String(), p, ok)
		}
	}
	if _, ok := ParseTier(""); ok {
		t.Fatal(`ParseTier("") must fail`)
	}
}

func TestReportRemoved(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	NewCall(h).Run(func(c *Call) Status {
		c.ReportRemoved(RemovedDuplicate, 120)
		return c.ReportRemoved(RemovedBoilerplate, 1<<40)
	})
	if want := []string{"1:120", "0:2147483647"}; strings.Join(h.removed, ",") != strings.Join(want, ",") {
		t.Fatalf("report_removed calls = %q, want %q", h.removed, want)
	}
}

func TestCallGrowAndRetry(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10000)
	h := &fakeHost{model: "auto", msgs: [][2]string{{"system", "sys"}, {"user", long}}}
	c := NewCall(h)
	c.Run(func(c *Call) Status {
		if got := string(c.Text(1)); got != long {
			t.Fatalf("Text(1) has %d bytes, want %d", len(got), len(long))
		}
		before := h.getters
		_ = c.Text(1)
		if h.getters != before {
			t.Fatal("second Text(1) in the same call asked the host again")
		}
		if got := c.TextLen(1); got != len(long) {
			t.Fatalf("TextLen = %d", got)
		}
		if c.Text(5) != nil {
			t.Fatal("Text(5) out of range returned bytes")
		}
		if v, ok := c.Header("X-Test"); !ok || string(v) != "yes" {
			t.Fatalf("Header = %q, %v", v, ok)
		}
		if _, ok := c.Header("absent"); ok {
			t.Fatal("absent header reported present")
		}
		if c.SystemIndex() != 0 || c.LastIndex("user") != 1 || c.LastIndex("tool") != -1 {
			t.Fatal("index helpers wrong")
		}
		return StatusOK
	})
	// A new call must see new data.
	h.msgs[1][1] = "short"
	c.Run(func(c *Call) Status {
		if got := string(c.Text(1)); got != "short" {
			t.Fatalf("stale cache: Text(1) = %q", got)
		}
		return StatusOK
	})
}

func TestSetTextMinimalEdit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, old, new string
		want           string // the replace op, "" for none
	}{
		{"equal", "abc", "abc", ""},
		{"middle removed", "hello <|im_end|> world", "hello  world", "0:6-16="},
		{"prefix added", "world", "hello world", "0:0-0=hello "},
		{"suffix added", "hello", "hello world", "0:5-5= world"},
		{"all replaced", "abc", "xyz", "0:0-3=xyz"},
		{"utf8 boundary", "aé", "aè", "0:1-3=è"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &fakeHost{msgs: [][2]string{{"user", tt.old}}}
			c := NewCall(h)
			c.Run(func(c *Call) Status { return c.SetText(0, []byte(tt.new)) })
			got := strings.Join(h.replace, ";")
			if got != tt.want {
				t.Fatalf("ops = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRespondError(t *testing.T) {
	t.Parallel()
	h := &fakeHost{}
	c := NewCall(h)
	c.Run(func(c *Call) Status {
		return c.RespondError(400, []byte(`unknown skill "x"; known: a, b`), []byte("invalid_request_error"), []byte("unknown_skill"))
	})
	var env struct {
		Error struct {
			Message, Type string
			Param         *string
			Code          string
		}
	}
	if err := json.Unmarshal(h.body, &env); err != nil {
		t.Fatalf("body %s: %v", h.body, err)
	}
	if env.Error.Message != `unknown skill "x"; known: a, b` || env.Error.Code != "unknown_skill" || env.Error.Param != nil {
		t.Fatalf("envelope = %+v", env)
	}
}

func TestAppendInt(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{0, 7, -7, 1234567890, -9223372036854775808, 9223372036854775807} {
		if got, want := string(AppendInt(nil, n)), strconv.FormatInt(n, 10); got != want {
			t.Fatalf("AppendInt(%d) = %s", n, got)
		}
	}
}

func TestHostFuncsAreIntegerOnly(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, f := range HostFuncs {
		if seen[f.Name] {
			t.Fatalf("duplicate import %s", f.Name)
		}
		seen[f.Name] = true
		for _, v := range append(append([]ValueType{}, f.Params...), f.Results...) {
			if v != I32 && v != I64 {
				t.Fatalf("%s uses a non-integer value type", f.Name)
			}
		}
		if len(f.Results) != 1 {
			t.Fatalf("%s must return exactly one value", f.Name)
		}
	}
}
