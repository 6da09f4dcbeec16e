//go:build !race

package policyinput

const raceEnabled = false
