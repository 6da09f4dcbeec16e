// Command keyword-router is an example route-stage policy: it routes a
// request by keywords in the last user message, from rules in its JSON
// config, and leaves the request alone when no rule matches (the gateway
// then uses its default model).
//
//	{"rules": [{"keywords": ["postgres", "sql"], "tier": "fast"},
//	           {"keywords": ["threat model"], "model": "openai/o3"}],
//	 "tiers": {"fast": {"model": "groq/llama-3.3-70b-versatile"}}}
//
// A rule names a model, or a tier resolved through "tiers" (the built-in
// router's format, so it can be uploaded over the built-in router and share
// its config). Other keys are ignored. Build it with policies/build.sh, or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o keyword-router.wasm .
package main

import "github.com/aigateway/gateway/abi"

type rule struct {
	keywords *abi.Matcher
	model    []byte
	tier     abi.Tier // the rule's tier, so the gateway prices and cascades the route
	reason   []byte
}

var rules []rule

func configure(cfg []byte) string {
	rules = rules[:0]
	if len(cfg) == 0 {
		return ""
	}
	tiers := abi.JSONGet(cfg, "tiers")
	msg := ""
	ok := abi.JSONArrayEach(abi.JSONGet(cfg, "rules"), func(e []byte) bool {
		var kws []string
		abi.JSONArrayEach(abi.JSONGet(e, "keywords"), func(k []byte) bool {
			s, _, ok := abi.JSONUnquote(k, nil)
			if ok && len(s) > 0 {
				kws = append(kws, string(lower(s)))
			}
			return ok
		})
		if len(kws) == 0 {
			msg = "every rule needs keywords"
			return false
		}
		model, _, _ := abi.JSONUnquote(abi.JSONGet(e, "model"), nil)
		var tier abi.Tier
		if name, _, ok := abi.JSONUnquote(abi.JSONGet(e, "tier"), nil); ok {
			if tier, ok = abi.ParseTier(string(name)); !ok {
				msg = "rule for " + kws[0] + ": unknown tier " + string(name) + " (local, fast, strong, reasoning)"
				return false
			}
			if len(model) == 0 {
				model, _, _ = abi.JSONUnquote(abi.JSONGet(abi.JSONGet(tiers, string(name)), "model"), nil)
			}
		}
		if len(model) == 0 {
			msg = "rule for " + kws[0] + ": no model (set model, or a tier present in tiers)"
			return false
		}
		rules = append(rules, rule{keywords: abi.NewMatcher(kws...), model: model, tier: tier, reason: []byte("keyword rule: " + kws[0])})
		return true
	})
	if !ok && msg == "" && abi.JSONGet(cfg, "rules") != nil {
		msg = "rules must be an array of objects"
	}
	return msg
}

func lower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = abi.Lower(c)
	}
	return out
}

func route(c *abi.Call) abi.Status {
	last := c.LastIndex("user")
	if last < 0 {
		return abi.StatusOK
	}
	text := c.Text(last)
	for i := range rules {
		var found abi.Set
		rules[i].keywords.Scan(text, &found)
		if found != (abi.Set{}) {
			return c.SetRouteTier(rules[i].model, rules[i].tier, rules[i].reason)
		}
	}
	return abi.StatusOK
}
