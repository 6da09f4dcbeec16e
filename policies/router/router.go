package main

import (
	"math"
	"strconv"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/router/routemodel"
)

// The seed's pattern lists (docs/policies.md, router), matched case-insensitively
// as substrings, all in one pass over the user's intent.
var (
	simplePatterns = []string{
		"explain this code", "explain the code", "what does this do", "what does it do",
		"how does this work", "how do i ", "can you explain", "help me understand",
		"what is this", "summarize this", "what is going on", "explain what",
	}
	localPatterns = []string{
		"explain", "summarize", "translate", "comment", "format", "rename", "typo", "lint",
		"type hint", "docstring", "boilerplate", "snippet", "what does", "how do i", "what is",
		"can you explain", "help me understand", "add comment", "fix formatting",
		"add type hints", "generate docstring",
	}
	deepKeywords = []string{
		"architect", "architecture", "migrate", "migration", "security audit", "incident",
		"postmortem", "distributed system", "breaking change", "backwards compat",
		"production deployment", "system design", "scalability", "infrastructure",
		"kubernetes", "terraform",
	}
	singleFilePhrases = []string{
		"add a comment", "fix the typo", "rename this", "format this", "add type hints",
		"generate docstring", "explain this code", "what does this do", "how does this work",
	}
	// Weights of the strong-versus-reasoning sub-decision.
	reasoningWeights = []struct {
		kw string
		w  float64
	}{
		{"architect", .15}, {"design", .10}, {"security", .12}, {"migration", .12},
		{"refactor", .10}, {"production", .10}, {"incident", .12}, {"postmortem", .12},
		{"kubernetes", .10}, {"terraform", .10}, {"infrastructure", .10}, {"scalability", .10},
		{"performance", .08}, {"optimization", .08}, {"database schema", .12}, {"api design", .10},
		{"system design", .12}, {"distributed", .10}, {"microservice", .10},
		{"breaking change", .12}, {"backwards compat", .10}, {"deprecat", .08},
		{"simple", -.10}, {"quick", -.08}, {"small change", -.10}, {"typo", -.12},
		{"formatting", -.10}, {"comment", -.08}, {"rename", -.08},
	}
	ideWords  = []string{"cursor", "continue", "coding agent", "ide assistant", "code editor"}
	multiFile = []string{"across multiple files", "in all files", "every file", "all the files"}
	fence     = []byte("```")
)

// The intent matcher's pattern ids: simple patterns from 0, then local
// patterns from startLocal, deep keywords from startDeep, single-file phrases
// from startSingle and the reasoning weights from startWeights.
var (
	startLocal, startDeep, startSingle, startWeights int
	intentMatcher                                    *abi.Matcher
	ideMatcher                                       = abi.NewMatcher(ideWords...)
	multiFileMatcher                                 = abi.NewMatcher(multiFile...)
)

func init() {
	var pats []string
	add := func(p []string) int { pats = append(pats, p...); return len(pats) }
	startLocal = add(simplePatterns)
	startDeep = add(localPatterns)
	startSingle = add(deepKeywords)
	startWeights = add(singleFilePhrases)
	for _, w := range reasoningWeights {
		pats = append(pats, w.kw)
	}
	intentMatcher = abi.NewMatcher(pats...)
}

// prose is abi.Prose. Every text rule reads prose only: the identifiers and
// includes of pasted code ("migration", "format", "stdio.h") are not the
// user's intent, and code is most of a coding request's bytes.
func prose(text []byte, fn func([]byte)) int { return abi.Prose(text, fn) }

// features are what the heuristics look at. The whole-text scan is lazy: it
// only runs when a rule needs it.
type features struct {
	c           *abi.Call
	intent      []byte
	intentSet   abi.Set
	fences      int // ``` markers in the intent (not counted in excerpt mode)
	scanned     bool
	totalChars  int
	messages    int
	nonSystem   int
	userTurns   int
	toolLoop    bool
	tools       int
	images      bool
	json        bool
	systemLen   int
	systemIdx   int
	toolCallMsg int

	wholeDone bool
	files     int
	multiFile bool

	// excerpt: every scan reads each message's excerpt only (the learned
	// classifier's; excerpt.go), not the whole text.
	excerpt bool
}

// proseOf is excerptProse in excerpt mode, prose otherwise.
func (f *features) proseOf(text []byte, fn func([]byte)) {
	if f.excerpt {
		excerptProse(text, fn)
	} else {
		prose(text, fn)
	}
}

func (f *features) scanIntent() *abi.Set {
	if !f.scanned {
		f.intentSet.Clear()
		set := &f.intentSet
		if f.excerpt {
			excerptProse(f.intent, func(p []byte) { intentMatcher.Scan(p, set) })
		} else {
			f.fences = prose(f.intent, func(p []byte) { intentMatcher.Scan(p, set) })
		}
		f.scanned = true
	}
	return &f.intentSet
}

func (f *features) any(lo, hi int) bool { return f.scanIntent().CountIn(lo, hi) > 0 }

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// countExtensions counts source-file mentions: ".py .js .ts .tsx .go .rs
// .java .cpp .c .h" after a word character and not followed by one. Code is
// full of dots, so it looks for them eight bytes at a time.
func countExtensions(text []byte) int {
	const ones, highs, dots = 0x0101010101010101, 0x8080808080808080, 0x2e2e2e2e2e2e2e2e
	n, i := 0, 0
	for ; i+8 <= len(text); i += 8 {
		x := le64(text[i:]) ^ dots
		if (x-ones)&^x&highs == 0 {
			continue // no '.' in these eight bytes
		}
		for k := i; k < i+8; k++ {
			if text[k] == '.' && extensionAt(text, k+1) {
				n++
			}
		}
	}
	for ; i < len(text); i++ {
		if text[i] == '.' && extensionAt(text, i+1) {
			n++
		}
	}
	return n
}

// le64 loads eight bytes little-endian; the compiler turns it into one load.
// (encoding/binary would link reflect into the module.)
func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// extensionAt reports whether text[i-1] is a dot that ends a file name with
// a source extension.
func extensionAt(text []byte, i int) bool {
	if i < 2 || !isWordByte(text[i-2]) {
		return false
	}
	j := i
	for j < len(text) && j-i < 5 && isWordByte(text[j]) {
		j++
	}
	if j == i || (j < len(text) && isWordByte(text[j])) {
		return false
	}
	return isExtension(text[i:j])
}

// isExtension reports whether w (ASCII case-insensitive) is one of the
// seed's source-file extensions.
func isExtension(w []byte) bool {
	var b [4]byte
	if len(w) == 0 || len(w) > len(b) {
		return false
	}
	for i, c := range w {
		b[i] = abi.Lower(c)
	}
	switch string(b[:len(w)]) {
	case "py", "js", "ts", "tsx", "go", "rs", "java", "cpp", "c", "h":
		return true
	}
	return false
}

// hasMultiFile reports whether p says "across multiple files", "in all
// files", "every file" or "all the files".
func hasMultiFile(p []byte) bool {
	var set abi.Set
	multiFileMatcher.Scan(p, &set)
	return set != abi.Set{}
}

// whole computes the whole-text features, over the prose of every message
// (of every message's excerpt in excerpt mode).
func (f *features) whole() {
	if f.wholeDone {
		return
	}
	f.wholeDone = true
	for i := 0; i < f.messages; i++ {
		f.proseOf(f.c.Text(i), func(p []byte) {
			f.files += countExtensions(p)
			if !f.multiFile {
				f.multiFile = hasMultiFile(p)
			}
		})
	}
}

func (f *features) load(c *abi.Call) {
	*f = features{c: c, systemIdx: -1}
	f.messages = c.MessageCount()
	// The intent is the last user message (the last message when none is
	// a user's). Found first, so that its text is fetched once (Text gives
	// the length too): every host call costs the guest about 0.15 us.
	last := f.messages - 1
	for i := last; i >= 0; i-- {
		if string(c.Role(i)) == "user" { // cached: the loop below reads it again
			last = i
			break
		}
	}
	var flags uint64
	for i := 0; i < f.messages; i++ {
		var n int
		if i == last {
			f.intent = c.Text(i)
			n = len(f.intent)
		} else {
			n = c.TextLen(i)
		}
		f.totalChars += n
		role := c.Role(i)
		switch string(role) {
		case "user":
			f.nonSystem++
			f.userTurns++
		case "system", "developer":
			if f.systemIdx < 0 {
				f.systemIdx = i
				f.systemLen = n
			}
		default:
			f.nonSystem++
		}
		flags = c.MessageFlags(i)
		if flags&abi.MsgToolCalls != 0 {
			f.toolCallMsg++
		}
	}
	f.toolLoop = flags&abi.MsgToolResult != 0 // the last message's
	f.tools = c.ToolCount()
	flags = c.Flags()
	f.images = flags&abi.FlagImages != 0
	f.json = flags&abi.FlagJSON != 0
}

// Bands of phase 1.
const (
	bandLocal = iota
	bandClaude
	bandAmbiguous
)

type decision struct {
	band int
	// rule names the rule that matched; n, when not -1, is the count it
	// found, printed before the rule.
	rule   string
	n      int
	deep   bool    // rule 7: deep-reasoning keywords
	local  float64 // ambiguous scores
	claude float64
}

// decide applies the seed's phase-1 rules in order; the first match wins.
func decide(f *features, c *config) decision {
	short := len(f.intent) <= 500
	// 1. A short simple question or local task, even with tools.
	if short && (f.any(0, startLocal) || f.any(startLocal, startDeep)) {
		return decision{band: bandLocal, rule: "simple question or local task", n: -1}
	}
	// 2-6: signals that need a capable hosted model.
	switch {
	case f.toolLoop:
		return decision{band: bandClaude, rule: "active tool loop", n: -1}
	case f.tools > 0:
		return decision{band: bandClaude, rule: "tools defined", n: f.tools}
	case f.totalChars > c.localContextChars:
		return decision{band: bandClaude, rule: "chars of context, over the local limit", n: f.totalChars}
	case f.messages > 15:
		return decision{band: bandClaude, rule: "messages, more than 15", n: f.messages}
	case f.systemLen > 1000 && f.ideSystem():
		return decision{band: bandClaude, rule: "IDE system prompt", n: -1}
	}
	deep := f.scanIntent().CountIn(startDeep, startSingle)
	// 7. Deep-reasoning keywords.
	if deep >= 2 {
		return decision{band: bandClaude, rule: "deep-reasoning keywords", n: deep, deep: true}
	}
	f.whole()
	switch {
	case f.files > 5: // 8
		return decision{band: bandClaude, rule: "source-file mentions", n: f.files}
	case f.multiFile: // 9
		return decision{band: bandClaude, rule: "multi-file change", n: -1}
	}
	// 10. A single short local task without a big system prompt.
	if f.nonSystem == 1 && f.totalChars < 3000 && f.any(startLocal, startDeep) && f.systemLen < 500 {
		return decision{band: bandLocal, rule: "single local task", n: -1}
	}
	// 11. A single-file edit.
	if f.any(startSingle, startWeights) && f.files <= 1 {
		return decision{band: bandLocal, rule: "single-file edit", n: -1}
	}
	// 12. Ambiguous: score both sides.
	d := decision{band: bandAmbiguous, rule: "ambiguous", n: -1}
	if f.totalChars < 5000 {
		d.local += 0.3
	}
	if f.messages <= 3 {
		d.local += 0.2
	}
	if deep == 1 {
		d.claude += 0.4
	}
	if f.files > 1 {
		d.claude += 0.3
	}
	if f.scanIntent(); f.fences > 2 {
		d.claude += 0.2
	}
	return d
}

// needs are the capabilities the request requires of a model.
type needs struct {
	tools, vision, json bool
	tokens              int64
}

func (n needs) met(t *tier) bool {
	if !t.set || (n.tools && !t.tools) || (n.vision && !t.vision) || (n.json && !t.json) {
		return false
	}
	// Estimated tokens must fit in 80% of the window (0: unknown, assume it fits).
	return t.contextWindow == 0 || n.tokens*10 <= t.contextWindow*8
}

// pick returns the tier to use for want: want itself if it can serve the
// request, else the nearest capable tier above, else below; -1 if none.
func pick(c *config, want int, n needs) int {
	if n.met(&c.tiers[want]) {
		return want
	}
	for t := want + 1; t < numTiers; t++ {
		if n.met(&c.tiers[t]) {
			return t
		}
	}
	for t := want - 1; t >= 0; t-- {
		if n.met(&c.tiers[t]) {
			return t
		}
	}
	return -1
}

// alias maps the seed's explicit aliases to a tier; auto reports whether the
// model asks for routing.
func alias(model []byte) (t int, auto bool) {
	switch {
	case abi.EqualFold(model, "auto"), abi.EqualFold(model, "smartroute"), len(model) == 0:
		return -1, true
	case abi.EqualFold(model, "local"), abi.EqualFold(model, "ollama"):
		return tierLocal, false
	case abi.EqualFold(model, "fast"):
		return tierFast, false
	case abi.EqualFold(model, "sonnet"), abi.EqualFold(model, "sonnet-4"), abi.EqualFold(model, "sonnet4"), abi.EqualFold(model, "claude-sonnet"):
		return tierStrong, false
	case abi.EqualFold(model, "opus"), abi.EqualFold(model, "opus-4"), abi.EqualFold(model, "opus4"),
		abi.EqualFold(model, "claude-opus"), abi.EqualFold(model, "high"), abi.EqualFold(model, "thinking"):
		return tierReasoning, false
	}
	return -1, false
}

var (
	feat       features
	reason     []byte
	ruleBuf    []byte
	errBuf     []byte
	tagTier    = []byte("router.tier")
	errType    = []byte("invalid_request_error")
	errCode    = []byte("no_capable_model")
	tierBytes  [numTiers][]byte
	bandToTier = func(band int, m mode, reasoning bool) int {
		if band == bandLocal {
			switch m {
			case modeLocalFirst:
				return tierLocal
			case modeBalanced:
				return tierFast
			}
			return tierStrong
		}
		if reasoning {
			return tierReasoning
		}
		return tierStrong
	}
)

func init() {
	for i, n := range tierNames {
		tierBytes[i] = []byte(n)
	}
}

// appendScore appends f with two decimals, exactly as
// strconv.AppendFloat(b, f, 'f', 2, 64) does (TestAppendScore). Scores and
// thresholds in [0, 1] take a short path: strconv formats a fixed number
// of decimals with its arbitrary-precision decimal type, about 0.4 us a
// call in the guest, twice per learned decision.
func appendScore(b []byte, f float64) []byte {
	if !(f >= 0 && f <= 1) || math.Signbit(f) {
		return strconv.AppendFloat(b, f, 'f', 2, 64)
	}
	k := hundredths(f)
	return append(b, byte('0'+k/100), '.', byte('0'+k/10%10), byte('0'+k%10))
}

// hundredths is f·100 for f in [0, 1] rounded to the nearest integer,
// ties to even, computed on f's exact binary value as strconv does.
func hundredths(f float64) uint64 {
	if f < 0x1p-10 { // below 0.005: rounds to 0
		return 0
	}
	b := math.Float64bits(f)
	shift := 1075 - uint(b>>52) // f = mant·2^-shift, shift in [52, 62]
	x := (b&(1<<52-1) | 1<<52) * 100
	k, rem, half := x>>shift, x&(1<<shift-1), uint64(1)<<(shift-1)
	if rem > half || rem == half && k&1 == 1 {
		k++
	}
	return k
}

func onRoute(c *abi.Call) abi.Status {
	model := c.Model()
	want, auto := alias(model)
	if !auto && want < 0 && c.Flags()&abi.FlagSmartRouting == 0 {
		return abi.StatusOK // an explicit model: not ours to change
	}
	f := &feat
	f.load(c)
	conf := &cfg
	n := needs{tools: f.tools > 0 || f.toolLoop, vision: f.images, json: f.json, tokens: int64(f.totalChars / 4)}

	// The rule part of the reason is built after the tier, in rule.
	rule := ruleBuf[:0]
	ambiguous := false
	switch {
	case want >= 0:
		rule = append(rule, "alias "...)
		rule = append(rule, model...)
	case conf.mode == modeKeyword:
		score := reasoningScore(f)
		want = tierStrong
		if score >= conf.reasoningThreshold {
			want = tierReasoning
		}
		rule = appendScore(append(rule, "keyword score "...), score)
	case !conf.rules && conf.mode != modeQuality:
		// The learned phase 1: P(strong needed) against the threshold.
		// Every scan reads the messages' excerpts (excerpt.go).
		f.excerpt = true
		p := learnedProb(c, f, conf.model)
		th := conf.threshold
		if th == 0 {
			th = float64(conf.model.Threshold)
		}
		if v, ok := c.Header("x-gateway-route-threshold"); ok {
			if t, ok := abi.JSONFloat(v); ok && t >= 0 && t <= 1 {
				th = t
			}
		}
		if p >= th {
			want = bandToTier(bandClaude, conf.mode, reasoningAtLeast(f, conf.reasoningThreshold))
			rule = appendScore(append(rule, "learned p="...), p)
			rule = appendScore(append(rule, " >= "...), th)
		} else {
			want = bandToTier(bandLocal, conf.mode, false)
			rule = appendScore(append(rule, "learned p="...), p)
			rule = appendScore(append(rule, " < "...), th)
		}
		if conf.margin > 0 && p > th-conf.margin && p < th+conf.margin {
			ambiguous = true
			rule = append(rule, " (ambiguous)"...)
		}
	default:
		d := decide(f, conf)
		if d.n >= 0 {
			rule = strconv.AppendInt(rule, int64(d.n), 10)
			rule = append(rule, ' ')
		}
		rule = append(rule, d.rule...)
		switch d.band {
		case bandAmbiguous:
			want = tierStrong
			if d.local > d.claude {
				want = bandToTier(bandLocal, conf.mode, false)
			}
			if conf.mode == modeQuality {
				want = tierStrong // quality mode errs upwards instead of asking
			} else {
				ambiguous = true
			}
			rule = appendScore(append(rule, " local="...), d.local)
			rule = appendScore(append(rule, " claude="...), d.claude)
		case bandLocal:
			want = bandToTier(bandLocal, conf.mode, false)
		default:
			threshold := conf.reasoningThreshold
			if conf.mode == modeQuality && threshold > 0.3 {
				threshold = 0.3
			}
			want = bandToTier(bandClaude, conf.mode, d.deep || reasoningAtLeast(f, threshold))
		}
	}
	ruleBuf = rule
	got := pick(conf, want, n)
	if got < 0 {
		if !anyTier(conf) {
			// Nothing configured: report the tier and let the gateway's
			// default model serve the request.
			c.Tag(tagTier, tierBytes[want])
			return abi.StatusOK
		}
		msg := append(errBuf[:0], "model auto: no configured tier can serve this request (needs"...)
		msg = appendNeeds(msg, n)
		msg = append(msg, ')')
		errBuf = msg
		return c.RespondError(400, msg, errType, errCode)
	}
	reason = append(reason[:0], tierNames[got]...)
	reason = append(reason, ": "...)
	reason = append(reason, rule...)
	if got != want {
		reason = append(reason, " ("...)
		reason = append(reason, tierNames[want]...)
		if conf.tiers[want].set {
			reason = append(reason, " lacks a capability)"...)
		} else {
			reason = append(reason, " not configured)"...)
		}
	}
	if len(reason) > abi.MaxReasonLen {
		reason = reason[:abi.MaxReasonLen]
	}
	m := conf.tiers[got].model
	var st abi.Status
	if ambiguous {
		st = c.SetAmbiguousTier(m, abiTiers[got], reason)
	} else {
		st = c.SetRouteTier(m, abiTiers[got], reason)
	}
	if st != abi.StatusOK {
		return c.Fail("router: route refused by the host")
	}
	// The tier the gateway acts on travels with the route; the tag is for
	// the access log.
	c.Tag(tagTier, tierBytes[got])
	return abi.StatusOK
}

var (
	modelIn routemodel.Input
	scratch routemodel.Scratch
)

// learnedProb scores the request with the model: the features come from
// what load already read, plus the system prompt's IDE signal.
func learnedProb(c *abi.Call, f *features, m *routemodel.Model) float64 {
	in := &modelIn
	*in = routemodel.Input{Intent: f.intent, TotalChars: f.totalChars, Messages: f.messages,
		UserTurns: f.userTurns, Tools: f.tools, ToolLoop: f.toolLoop, Images: f.images, JSON: f.json}
	if f.systemIdx >= 0 {
		in.SystemLen = f.systemLen // only its length is a feature: no copy
		in.IDE = f.systemLen > 1000 && f.ideSystem()
	}
	return m.Predict(in, &scratch)
}

func anyTier(c *config) bool {
	for i := range c.tiers {
		if c.tiers[i].set {
			return true
		}
	}
	return false
}

func appendNeeds(b []byte, n needs) []byte {
	if n.tools {
		b = append(b, " tools"...)
	}
	if n.vision {
		b = append(b, " vision"...)
	}
	if n.json {
		b = append(b, " json"...)
	}
	b = append(b, " ~"...)
	b = strconv.AppendInt(b, n.tokens, 10)
	return append(b, " tokens"...)
}
