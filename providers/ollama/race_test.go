//go:build race

package ollama

// raceEnabled: the race detector allocates, so allocation tests skip.
const raceEnabled = true
