package cost

import (
	"fmt"
	"math/rand/v2"
)

// otherSessions generates m's OtherAgents, OtherAiders and OtherChats
// (sessions on Gemini and DeepSeek models) from their own random stream,
// so that adding them keeps every other request's bytes.
func (g *gen) otherSessions(seed uint64, m Mix) []*Request {
	if len(m.OtherAgents)+len(m.OtherAiders)+len(m.OtherChats) == 0 {
		return nil
	}
	var reqs []*Request
	main := g.rng
	g.rng = rand.New(rand.NewPCG(seed, 0x67656d696e696473))
	n := m.AgentSessions + m.AgentGPT4o
	for i, model := range m.OtherAgents {
		j := n + i
		reqs = append(reqs, g.agent(fmt.Sprintf("agent-%02d", j), g.startTime(0.8), g.families[j%2], g.repos[j%len(g.repos)], model, FormatOpenAI, g.rng.IntN(2) == 0)...)
	}
	for i, model := range m.OtherAiders {
		j := m.AiderSessions + i
		reqs = append(reqs, g.aider(fmt.Sprintf("aider-%02d", j), g.startTime(0.8), g.repos[j%len(g.repos)], model, "diff")...)
	}
	for i, model := range m.OtherChats {
		j := m.PlainChatSessions + i
		reqs = append(reqs, g.plainChat(fmt.Sprintf("plain-%02d", j), g.startTime(0.9), g.repos[(j+1)%len(g.repos)], model)...)
	}
	g.rng = main
	return reqs
}
