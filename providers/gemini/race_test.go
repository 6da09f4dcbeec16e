//go:build race

package gemini

const raceEnabled = true
