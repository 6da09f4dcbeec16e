//go:build race

package policyinput

// raceEnabled: the race detector allocates, so allocation tests skip.
const raceEnabled = true
