package routing

import (
	"encoding/base64"
	"encoding/json"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/policies/router/routemodel"
)

// Knobs are the [routing] keys that travel in the router policy's config.
type Knobs struct {
	// Mode is the router's mode ("local_first" when empty).
	Mode string
	// Classifier is "learned" or "rules"; empty for the policy's default.
	Classifier string
	// Threshold is the learned router's P(strong needed) cut; 0 for the
	// weights' own default.
	Threshold float64
	// AmbiguousMargin is sent only with Phase2 (a classifier model is
	// configured): without phase 2 nothing is ambiguous.
	AmbiguousMargin float64
	Phase2          bool
	// Weights replace the embedded model (nil: keep it).
	Weights []byte
}

// tierConfig is one tier in the router policy's JSON config.
type tierConfig struct {
	Model         string `json:"model"`
	ContextWindow int    `json:"context_window"`
	Tools         bool   `json:"tools"`
	Vision        bool   `json:"vision"`
	JSON          bool   `json:"json"`
}

// PolicyConfig is the router policy's JSON config: each bound tier's model
// with its capabilities from the catalog, and the knobs (the weights
// base64-encoded, after checking that they decode).
func PolicyConfig(tiers Tiers, cat *catalog.Catalog, k Knobs) (string, error) {
	doc := struct {
		Mode            string                `json:"mode"`
		Tiers           map[string]tierConfig `json:"tiers"`
		Classifier      string                `json:"classifier,omitempty"`
		Threshold       float64               `json:"threshold,omitempty"`
		AmbiguousMargin float64               `json:"ambiguous_margin,omitempty"`
		Weights         string                `json:"weights,omitempty"`
	}{Mode: k.Mode, Tiers: map[string]tierConfig{}, Classifier: k.Classifier}
	if doc.Mode == "" {
		doc.Mode = "local_first"
	}
	for tier, name := range tiers {
		m, err := cat.Resolve(name)
		if err != nil {
			return "", err
		}
		doc.Tiers[tier] = tierConfig{Model: name, ContextWindow: m.ContextWindow, Tools: m.Tools, Vision: m.Vision, JSON: m.JSON}
	}
	if k.Threshold > 0 {
		doc.Threshold = k.Threshold
	}
	if k.Phase2 && k.AmbiguousMargin > 0 {
		doc.AmbiguousMargin = k.AmbiguousMargin
	}
	if k.Weights != nil {
		if _, err := routemodel.Decode(k.Weights); err != nil {
			return "", err
		}
		doc.Weights = base64.StdEncoding.EncodeToString(k.Weights)
	}
	b, err := json.Marshal(doc)
	return string(b), err
}
