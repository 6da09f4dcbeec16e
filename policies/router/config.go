package main

import (
	_ "embed"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/router/routemodel"
)

// embeddedWeights is the built-in model, trained on public data
// (docs/routing.md); config "weights" replaces it.
//
//go:embed weights.bin
var embeddedWeights []byte

// builtinModel is embeddedWeights decoded once.
var builtinModel, builtinErr = routemodel.Decode(embeddedWeights)

// Tiers, cheapest first.
const (
	tierLocal = iota
	tierFast
	tierStrong
	tierReasoning
	numTiers
)

var tierNames = [numTiers]string{"local", "fast", "strong", "reasoning"}

// abiTiers is each tier as the route decision declares it to the gateway.
var abiTiers = [numTiers]abi.Tier{abi.TierLocal, abi.TierFast, abi.TierStrong, abi.TierReasoning}

type tier struct {
	set           bool
	model         []byte
	contextWindow int64
	tools         bool
	vision        bool
	json          bool
}

type mode uint8

const (
	modeLocalFirst mode = iota
	modeBalanced
	modeQuality
	modeKeyword
)

var modeNames = []string{"local_first", "balanced", "quality", "keyword"}

type config struct {
	mode               mode
	tiers              [numTiers]tier
	reasoningThreshold float64
	localContextChars  int
	// rules: the seed's phase-1 heuristics instead of the learned model.
	rules bool
	// model scores requests; threshold (0: the model's own) is the
	// P(strong needed) from which the strong tier is chosen; within margin
	// of it a request is ambiguous and goes to phase 2 (0: never).
	model     *routemodel.Model
	threshold float64
	margin    float64
}

var cfg = defaultConfig()

func defaultConfig() config {
	return config{mode: modeLocalFirst, reasoningThreshold: 0.5, localContextChars: 30000, model: builtinModel}
}

func parseTier(v []byte, t *tier) string {
	msg := ""
	ok := abi.JSONObjectEach(v, func(k, val []byte) bool {
		switch string(k) {
		case "model":
			s, _, ok := abi.JSONUnquote(val, nil)
			if !ok || len(s) == 0 || len(s) > abi.MaxModelLen {
				msg = "model must be a non-empty string"
				return false
			}
			for _, c := range s {
				if c <= ' ' || c > '~' {
					msg = "model must be printable ASCII without spaces"
					return false
				}
			}
			t.model = append([]byte(nil), s...)
		case "context_window":
			n, ok := abi.JSONInt(val)
			if !ok || n < 0 {
				msg = "context_window must be a non-negative integer"
				return false
			}
			t.contextWindow = n
		case "tools", "vision", "json":
			b, ok := abi.JSONBool(val)
			if !ok {
				msg = string(k) + " must be a boolean"
				return false
			}
			switch string(k) {
			case "tools":
				t.tools = b
			case "vision":
				t.vision = b
			default:
				t.json = b
			}
		default:
			msg = "unknown key " + string(k)
			return false
		}
		return true
	})
	if msg == "" && !ok {
		msg = "must be an object"
	}
	if msg == "" && len(t.model) == 0 {
		msg = "model is required"
	}
	t.set = msg == ""
	return msg
}

// configure is the self-check.
func configure(raw []byte) string {
	c := defaultConfig()
	if len(raw) > 0 && string(raw) != "null" {
		if !abi.JSONValid(raw) || raw[0] != '{' {
			return "config must be a JSON object"
		}
		msg := ""
		abi.JSONObjectEach(raw, func(k, v []byte) bool {
			switch string(k) {
			case "mode":
				s, _, _ := abi.JSONUnquote(v, nil)
				found := false
				for i, name := range modeNames {
					if string(s) == name {
						c.mode, found = mode(i), true
					}
				}
				if !found {
					msg = "mode must be local_first, balanced, quality or keyword"
				}
			case "tiers":
				if !abi.JSONObjectEach(v, func(name, tv []byte) bool {
					for i, tn := range tierNames {
						if string(name) == tn {
							if m := parseTier(tv, &c.tiers[i]); m != "" {
								msg = "tiers." + tn + ": " + m
								return false
							}
							return true
						}
					}
					msg = "unknown tier " + string(name) + " (want local, fast, strong, reasoning)"
					return false
				}) && msg == "" {
					msg = "tiers must be an object"
				}
			case "reasoning_threshold":
				f, ok := abi.JSONFloat(v)
				if !ok || f < 0 || f > 1 {
					msg = "reasoning_threshold must be a number in [0, 1]"
				}
				c.reasoningThreshold = f
			case "classifier":
				s, _, _ := abi.JSONUnquote(v, nil)
				switch string(s) {
				case "learned":
					c.rules = false
				case "rules":
					c.rules = true
				default:
					msg = "classifier must be learned or rules"
				}
			case "threshold":
				f, ok := abi.JSONFloat(v)
				if !ok || f < 0 || f >= 1 {
					msg = "threshold must be a number in [0, 1) (0: the model's default)"
				}
				c.threshold = f
			case "ambiguous_margin":
				f, ok := abi.JSONFloat(v)
				if !ok || f < 0 || f > 0.5 {
					msg = "ambiguous_margin must be a number in [0, 0.5]"
				}
				c.margin = f
			case "weights":
				s, _, ok := abi.JSONUnquote(v, nil)
				if !ok {
					msg = "weights must be a base64 string (a gateway router train output)"
					break
				}
				m, err := routemodel.DecodeBase64(s)
				if err != nil {
					msg = "weights: " + err.Error()
					break
				}
				c.model = m
			case "local_context_chars":
				n, ok := abi.JSONInt(v)
				if !ok || n <= 0 {
					msg = "local_context_chars must be a positive integer"
				}
				c.localContextChars = int(n)
			default:
				// Ignored: a replacement router uploaded under the same
				// policy name may read its own keys from this config.
			}
			return msg == ""
		})
		if msg != "" {
			return msg
		}
	}
	if c.model == nil && !c.rules {
		return "the embedded router weights do not decode (" + builtinErr.Error() + "): rebuild the module"
	}
	cfg = c
	return ""
}
