package engine

import (
	"testing"

	"github.com/aigateway/gateway/engine/catalog"
)

// TestEstimateCostCapsOutput: admission's estimate counts at most the
// model's output limit, as no answer is longer (a larger max_tokens is
// capped on the way up, or refused), and the limit when none is asked.
func TestEstimateCostCapsOutput(t *testing.T) {
	m := &catalog.Model{InputPrice: 1, OutputPrice: 10, MaxOutputTokens: 8192}
	limit := estimateCost(m, 4000, 0, false)
	for _, asked := range []int{8192, 32000, 1 << 30} {
		if got := estimateCost(m, 4000, asked, false); got != limit {
			t.Errorf("max_tokens %d: estimate %v, want the limit's %v", asked, got, limit)
		}
	}
	if small, want := estimateCost(m, 4000, 100, false), (1001*1+100*10)/1e6; small != want {
		t.Errorf("max_tokens 100: %v, want %v", small, want)
	}
}
