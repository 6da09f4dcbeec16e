package wasm

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
)

func native(stage abi.Stage, in *Input, fn func(c *abi.Call) abi.Status) (abi.Status, *Output) {
	out := new(Output)
	return RunNative("p", stage, []byte(`{"k":1}`), in, out, fn), out
}

func TestGetters(t *testing.T) {
	t.Parallel()
	in := chatInput("system", "sys", "user", "héllo")
	in.Project = []byte("proj")
	in.Skill = []byte("quick-fix")
	in.AddTool([]byte("read_file"))
	in.AddHeader([]byte("X-Gateway-Skill"), []byte("code-review"))
	in.Response = []byte(`{"ok":true}`)
	tests := []struct {
		name  string
		stage abi.Stage
		call  func(imp abi.Imports, buf []byte) int32
		want  int32
		bytes string // what lands in a 3-byte buffer
	}{
		{"model prefix copy", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.Model(b) }, 4, "aut"},
		{"model length only", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.Model(nil) }, 4, ""},
		{"project", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.Project(b) }, 4, "pro"},
		{"skill", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.Skill(b) }, 9, "qui"},
		{"config", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.Config(b) }, 7, `{"k`},
		{"message count", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.MessageCount() }, 2, ""},
		{"role", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.MessageRole(1, b) }, 4, "use"},
		{"text utf8", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.MessageText(1, b) }, 6, "hé"},
		{"text out of range", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.MessageText(2, b) }, int32(abi.StatusOutOfRange), ""},
		{"negative index", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.MessageRole(-1, b) }, int32(abi.StatusOutOfRange), ""},
		{"tool", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.ToolName(0, b) }, 9, "rea"},
		{"tool count", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return i.ToolCount() }, 1, ""},
		{"header by name any case", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.Header([]byte("x-GATEWAY-skill"), b) }, 11, "cod"},
		{"header absent", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.Header([]byte("x-none"), b) }, int32(abi.StatusNotFound), ""},
		{"header name", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.HeaderName(0, b) }, 15, "X-G"},
		{"response outside its stage", abi.StageRequest, func(i abi.Imports, b []byte) int32 { return i.Response(b) }, int32(abi.StatusNotFound), ""},
		{"response", abi.StageResponse, func(i abi.Imports, b []byte) int32 { return i.Response(b) }, 11, `{"o`},
		{"flags", abi.StageRoute, func(i abi.Imports, b []byte) int32 { return int32(i.Flags()) }, int32(abi.FlagTools), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			buf := make([]byte, 3)
			var got int32
			native(tt.stage, in, func(c *abi.Call) abi.Status {
				got = tt.call(c.Imports(), buf)
				return abi.StatusOK
			})
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
			if tt.bytes != "" && string(buf[:len(tt.bytes)]) != tt.bytes {
				t.Fatalf("buffer = %q, want prefix %q", buf, tt.bytes)
			}
		})
	}
}

func TestSetterValidation(t *testing.T) {
	t.Parallel()
	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name  string
		stage abi.Stage
		call  func(i abi.Imports) int32
		want  abi.Status
	}{
		{"route ok", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(0, b("openai/gpt-4o"), b("why not")) }, abi.StatusOK},
		{"route in request stage", abi.StageRequest, func(i abi.Imports) int32 { return i.SetRoute(0, b("m"), nil) }, abi.StatusWrongStage},
		{"route empty model", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(0, nil, nil) }, abi.StatusInvalid},
		{"route model with space", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(0, b("a b"), nil) }, abi.StatusInvalid},
		{"route reason with CRLF", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(0, b("m"), b("x\r\nSet-Cookie: a")) }, abi.StatusInvalid},
		{"route reason too long", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(0, b("m"), make([]byte, 257)) }, abi.StatusInvalid},
		{"route unknown flag", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(4, b("m"), nil) }, abi.StatusInvalid},
		{"route with tier", abi.StageRoute, func(i abi.Imports) int32 {
			return i.SetRoute(abi.RouteAmbiguous|abi.RouteTier(abi.TierReasoning), b("m"), nil)
		}, abi.StatusOK},
		{"route unknown tier", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(5<<abi.RouteTierShift, b("m"), nil) }, abi.StatusInvalid},
		{"route flag above the tier", abi.StageRoute, func(i abi.Imports) int32 { return i.SetRoute(1<<8, b("m"), nil) }, abi.StatusInvalid},
		{"removed ok", abi.StageRequest, func(i abi.Imports) int32 { return i.ReportRemoved(int32(abi.RemovedDuplicate), 10) }, abi.StatusOK},
		{"removed in route stage", abi.StageRoute, func(i abi.Imports) int32 { return i.ReportRemoved(0, 10) }, abi.StatusWrongStage},
		{"removed unknown kind", abi.StageRequest, func(i abi.Imports) int32 { return i.ReportRemoved(abi.NumRemovals, 10) }, abi.StatusInvalid},
		{"removed negative", abi.StageRequest, func(i abi.Imports) int32 { return i.ReportRemoved(0, -1) }, abi.StatusInvalid},
		{"replace ok", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(0, 0, 1, b("X")) }, abi.StatusOK},
		{"replace in route stage", abi.StageRoute, func(i abi.Imports) int32 { return i.ReplaceText(0, 0, 1, b("X")) }, abi.StatusWrongStage},
		{"replace bad message", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(9, 0, 1, b("X")) }, abi.StatusOutOfRange},
		{"replace end past text", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(0, 0, 99, nil) }, abi.StatusInvalid},
		{"replace inverted range", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(0, 2, 1, nil) }, abi.StatusInvalid},
		{"replace splits a character", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(1, 2, 3, nil) }, abi.StatusInvalid},
		{"replace invalid utf8", abi.StageRequest, func(i abi.Imports) int32 { return i.ReplaceText(0, 0, 0, b("\xff")) }, abi.StatusInvalid},
		{"replace overlapping", abi.StageRequest, func(i abi.Imports) int32 {
			i.ReplaceText(0, 0, 3, nil)
			return i.ReplaceText(0, 2, 4, nil)
		}, abi.StatusInvalid},
		{"replace insertion inside a replaced range", abi.StageRequest, func(i abi.Imports) int32 {
			i.ReplaceText(0, 0, 3, nil)
			return i.ReplaceText(0, 1, 1, b("x"))
		}, abi.StatusInvalid},
		{"replace adjacent ranges", abi.StageRequest, func(i abi.Imports) int32 {
			i.ReplaceText(0, 0, 2, nil)
			return i.ReplaceText(0, 2, 4, nil)
		}, abi.StatusOK},
		{"insert ok at end", abi.StageRequest, func(i abi.Imports) int32 { return i.InsertMessage(2, b("user"), b("x")) }, abi.StatusOK},
		{"insert past end", abi.StageRequest, func(i abi.Imports) int32 { return i.InsertMessage(3, b("user"), b("x")) }, abi.StatusOutOfRange},
		{"insert tool role", abi.StageRequest, func(i abi.Imports) int32 { return i.InsertMessage(0, b("tool"), b("x")) }, abi.StatusInvalid},
		{"tag ok", abi.StageRoute, func(i abi.Imports) int32 { return i.AddTag(b("a.b-c_1"), b("v 1")) }, abi.StatusOK},
		{"tag upper-case key", abi.StageRoute, func(i abi.Imports) int32 { return i.AddTag(b("Key"), b("v")) }, abi.StatusInvalid},
		{"tag newline value", abi.StageRoute, func(i abi.Imports) int32 { return i.AddTag(b("k"), b("a\nb")) }, abi.StatusInvalid},
		{"too many tags", abi.StageRoute, func(i abi.Imports) int32 {
			for n := 0; n < abi.MaxTagsPerRun; n++ {
				i.AddTag(b("k"), b("v"))
			}
			return i.AddTag(b("k"), b("v"))
		}, abi.StatusInvalid},
		{"respond ok", abi.StageRequest, func(i abi.Imports) int32 { return i.Respond(400, b(`{"error":{}}`)) }, abi.StatusOK},
		{"respond bad status", abi.StageRequest, func(i abi.Imports) int32 { return i.Respond(99, b(`{}`)) }, abi.StatusInvalid},
		{"respond not json", abi.StageRequest, func(i abi.Imports) int32 { return i.Respond(200, b(`nope`)) }, abi.StatusInvalid},
		{"respond in response stage", abi.StageResponse, func(i abi.Imports) int32 { return i.Respond(200, b(`{}`)) }, abi.StatusWrongStage},
		{"verdict ok", abi.StageResponse, func(i abi.Imports) int32 { return i.SetVerdict(1, 1000, b("refusal")) }, abi.StatusOK},
		{"verdict score", abi.StageResponse, func(i abi.Imports) int32 { return i.SetVerdict(0, 1001, nil) }, abi.StatusInvalid},
		{"verdict in route stage", abi.StageRoute, func(i abi.Imports) int32 { return i.SetVerdict(0, 1, nil) }, abi.StatusWrongStage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := chatInput("user", "abcd", "user", "aé")
			var got int32
			native(tt.stage, in, func(c *abi.Call) abi.Status {
				got = tt.call(c.Imports())
				return abi.StatusOK
			})
			if abi.Status(got) != tt.want {
				t.Fatalf("got %v, want %v", abi.Status(got), tt.want)
			}
		})
	}
}

func TestByteCaps(t *testing.T) {
	t.Parallel()
	in := chatInput("user", strings.Repeat("x", nativeMaxRead/2+1))
	st, out := native(abi.StageRoute, in, func(c *abi.Call) abi.Status {
		buf := make([]byte, len(in.Messages[0].Text))
		c.Imports().MessageText(0, buf)
		c.Imports().MessageText(0, buf) // twice: over the read cap
		c.SetRoute([]byte("m"), nil)
		return abi.StatusOK
	})
	if st != abi.StatusLimit || out.Route.Set || len(out.Failures) != 1 || out.Failures[0].Kind != FailBadOutput {
		t.Fatalf("status %v, output %s", st, out.AppendText(nil))
	}
}

func TestCommitOrderAndChaining(t *testing.T) {
	t.Parallel()
	in := chatInput("system", "You are helpful.", "user", "fix teh bug")
	out := new(Output)
	// Policy one: several edits in one call, all in the call-start view.
	st := RunNative("one", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		c.Replace(1, 4, 7, []byte("the"))               // "teh" -> "the"
		c.Replace(1, 11, 11, []byte("!"))               // append
		c.Replace(0, 0, 0, []byte("[A] "))              // prefix, inserted first...
		c.Replace(0, 0, 7, []byte("We are"))            // ...then the range that starts there
		c.Insert(2, []byte("user"), []byte("appended")) // after the last message
		c.Insert(0, []byte("system"), []byte("first"))  // before everything
		c.Insert(0, []byte("system"), []byte("second")) // same position: call order
		return abi.StatusOK
	})
	if st != abi.StatusOK {
		t.Fatal(st)
	}
	// Policy two sees policy one's result.
	RunNative("two", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		if c.MessageCount() != 5 || string(c.Text(3)) != "fix the bug!" {
			t.Errorf("second policy sees %d messages, message 3 = %q", c.MessageCount(), c.Text(3))
		}
		c.Replace(3, 0, 3, []byte("FIX"))
		return abi.StatusOK
	})
	// Policy three fails: its edits are rolled back.
	RunNative("three", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		c.Replace(3, 0, 3, []byte("broken"))
		c.Tag([]byte("k"), []byte("v"))
		return c.Fail("nope")
	})
	var got []string
	for _, m := range out.Messages() {
		got = append(got, string(m.Role)+":"+string(m.Text))
	}
	want := []string{"system:first", "system:second", "system:[A] We are helpful.", "user:FIX the bug!", "user:appended"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("messages\n%q\nwant\n%q", got, want)
	}
	if m := out.Messages(); m[2].Orig != 0 || m[3].Orig != 1 || m[0].Orig != -1 || !m[2].Changed {
		t.Fatalf("origins wrong: %+v", m)
	}
	if len(out.Tags) != 0 || len(out.Failures) != 1 || out.Failures[0].Policy != "three" || string(out.Failures[0].Detail) != "nope" {
		t.Fatalf("rollback: %s", out.AppendText(nil))
	}
	if len(out.Edits) != 8 {
		t.Fatalf("edit log has %d entries, want 8", len(out.Edits))
	}
	out.Reset()
	if out.Modified() || out.Messages() != nil || len(out.Edits) != 0 {
		t.Fatal("Reset left state behind")
	}
}

// TestTierAndRemovals: the route's tier and the removal reports are typed
// fields of the Output, committed with the call that made them and
// discarded when it fails.
func TestTierAndRemovals(t *testing.T) {
	t.Parallel()
	in := chatInput("user", "abcd")
	out := new(Output)
	RunNative("strip", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		c.ReportRemoved(abi.RemovedBoilerplate, 30)
		return c.ReportRemoved(abi.RemovedBoilerplate, 12)
	})
	RunNative("broken", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		c.ReportRemoved(abi.RemovedBoilerplate, 1000)
		return c.Fail("no")
	})
	RunNative("dedup", abi.StageRequest, nil, in, out, func(c *abi.Call) abi.Status {
		return c.ReportRemoved(abi.RemovedDuplicate, 7)
	})
	if got := [2]int64{out.RemovedBytes(abi.RemovedBoilerplate), out.RemovedBytes(abi.RemovedDuplicate)}; got != [2]int64{42, 7} {
		t.Fatalf("removed = %v, want [42 7]: %s", got, out.AppendText(nil))
	}
	if len(out.Removed) != 2 || out.Removed[0].Policy != "strip" || out.Removed[1].Policy != "dedup" {
		t.Fatalf("removals = %+v", out.Removed)
	}
	RunNative("router", abi.StageRoute, nil, in, out, func(c *abi.Call) abi.Status {
		return c.SetRouteTier([]byte("m"), abi.TierFast, []byte("r"))
	})
	if out.Route.Tier != abi.TierFast || !strings.Contains(string(out.AppendText(nil)), "route: m tier=fast") {
		t.Fatalf("route: %s", out.AppendText(nil))
	}
	out.Reset()
	if len(out.Removed) != 0 || out.Route.Tier != abi.TierNone || out.RemovedBytes(abi.RemovedBoilerplate) != 0 {
		t.Fatal("Reset left removals or the tier behind")
	}
}
