package wasm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/abi"
)

// PositionKind says where an uploaded policy goes in its stages' chains.
type PositionKind uint8

// Position kinds. The zero value keeps the policy's current place (the end
// of the chains for a new one).
const (
	PositionUnset PositionKind = iota
	PositionLast
	PositionFirst
	PositionBefore
	PositionAfter
)

// Position places an uploaded policy that gateway.toml does not configure
// in the chains of the stages it serves. A configured policy's place is the
// order of gateway.toml's [[policies]].
type Position struct {
	Kind PositionKind
	// Ref names the policy to go before or after. In a chain Ref is not
	// part of (another stage, or Ref disabled or deleted), the policy goes
	// last.
	Ref string
}

// ParsePosition reads "last", "first", "before:NAME" or "after:NAME"; ""
// is PositionUnset.
func ParsePosition(s string) (Position, error) {
	switch s {
	case "":
		return Position{}, nil
	case "last":
		return Position{Kind: PositionLast}, nil
	case "first":
		return Position{Kind: PositionFirst}, nil
	}
	kind, ref, ok := strings.Cut(s, ":")
	if ok && validName(ref) {
		switch kind {
		case "before":
			return Position{Kind: PositionBefore, Ref: ref}, nil
		case "after":
			return Position{Kind: PositionAfter, Ref: ref}, nil
		}
	}
	return Position{}, fmt.Errorf("%w: position %q: want first, last, before:NAME or after:NAME", ErrInvalidConfig, s)
}

// String is the form ParsePosition reads.
func (p Position) String() string {
	switch p.Kind {
	case PositionLast:
		return "last"
	case PositionFirst:
		return "first"
	case PositionBefore:
		return "before:" + p.Ref
	case PositionAfter:
		return "after:" + p.Ref
	}
	return ""
}

// link builds the chains from the policies in order: the enabled policies
// of each stage in configuration order (uploads of new names after them),
// then the uploads with a position moved to it, in the order they come.
func (r *registry) link() {
	for st := abi.StageRequest; st <= abi.StageResponse; st++ {
		var chain, placed []*policy
		for _, p := range r.order {
			if !p.spec.enabled || p.stages&(1<<st) == 0 {
				continue
			}
			switch p.spec.position.Kind {
			case PositionFirst, PositionBefore, PositionAfter:
				placed = append(placed, p)
			default:
				chain = append(chain, p)
			}
		}
		firsts := 0
		for _, p := range placed {
			at := len(chain)
			switch pos := p.spec.position; pos.Kind {
			case PositionFirst:
				at = firsts
				firsts++
			case PositionBefore, PositionAfter:
				if i := slices.IndexFunc(chain, func(q *policy) bool { return q.spec.name == pos.Ref }); i >= 0 {
					at = i
					if pos.Kind == PositionAfter {
						at++
					}
				}
			}
			chain = slices.Insert(chain, at, p)
		}
		r.chains[st] = chain
	}
}

// ChainInfo describes one stage's chain for the admin API: the order the
// policies run in and which of them decides.
type ChainInfo struct {
	Stage    string   `json:"stage"`
	Policies []string `json:"policies"`
	// Decides says how the chain runs and which answer wins.
	Decides string `json:"decides"`
}

var chainRules = [abi.NumStages]string{
	abi.StageRequest: "every policy runs, in this order, each on the messages as the ones before it left them; " +
		"one that answers locally stops the chain",
	abi.StageRoute: "runs for model \"auto\" (or smart routing); the first policy that sets a route or answers locally " +
		"decides, and the ones after it do not run",
	abi.StageResponse: "the first policy that gives a verdict decides, and the ones after it do not run",
}

// Chains describes the chain of every stage.
func (h *Host) Chains() []ChainInfo {
	reg := h.reg.Load()
	out := make([]ChainInfo, 0, 3)
	for st := abi.StageRequest; st <= abi.StageResponse; st++ {
		c := ChainInfo{Stage: st.String(), Policies: []string{}, Decides: chainRules[st]}
		for _, p := range reg.chains[st] {
			c.Policies = append(c.Policies, p.spec.name)
		}
		out = append(out, c)
	}
	return out
}

// placement says, for each stage p serves, where it runs and what runs
// before it: what an operator needs to know after an upload.
func (reg *registry) placement(p *policy) (positions map[string]int, lines []string) {
	if !p.spec.enabled {
		return nil, []string{"disabled: in no chain"}
	}
	for st := abi.StageRequest; st <= abi.StageResponse; st++ {
		chain := reg.chains[st]
		i := slices.Index(chain, p)
		if i < 0 {
			continue
		}
		if positions == nil {
			positions = map[string]int{}
		}
		positions[st.String()] = i + 1
		var before []string
		for _, q := range chain[:i] {
			before = append(before, q.spec.name)
		}
		line := st.String() + ": " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(chain))
		switch {
		case st == abi.StageRequest && i == 0:
			line += ", runs first"
		case st == abi.StageRequest:
			line += ", runs after " + strings.Join(before, ", ")
		case i == 0:
			line += ", decides first"
		default:
			line += ", runs only when " + strings.Join(before, ", ") + " made no decision"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{"in no chain"}
	}
	return positions, lines
}
