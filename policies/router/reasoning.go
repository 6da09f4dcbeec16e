package main

// reasoningScore is the seed's strong-versus-reasoning (Sonnet-versus-Opus)
// score.
func reasoningScore(f *features) float64 { return addFiles(f, reasoningBase(f)) }

// filesMaxBonus is the most addFiles adds.
const filesMaxBonus = .12

// reasoningAtLeast reports whether reasoningScore(f) >= th. The
// source-file count is the one part of the score that reads every message
// (a pass over the whole conversation), and it only adds 0, .06 or .12: it
// is computed only when the score without it is below th and could reach
// th with it. Float addition of a non-negative number never lowers the sum,
// so the answer is reasoningScore's exactly (TestReasoningAtLeast).
func reasoningAtLeast(f *features, th float64) bool {
	base := reasoningBase(f)
	if base >= th {
		return true
	}
	if base+filesMaxBonus < th {
		return false
	}
	return addFiles(f, base) >= th
}

// reasoningBase is reasoningScore before the source-file mentions.
func reasoningBase(f *features) float64 {
	set := f.scanIntent()
	score := 0.0
	for i, w := range reasoningWeights {
		if set.Has(startWeights + i) {
			score += w.w
		}
	}
	if !f.any(0, startLocal) {
		switch {
		case len(f.intent) > 5000:
			score += .15
		case len(f.intent) > 2000:
			score += .08
		}
		switch {
		case f.tools > 8:
			score += .15
		case f.tools > 4:
			score += .08
		}
	}
	if f.toolCallMsg > 5 {
		score += .10
	}
	return score
}

// addFiles adds the source-file mentions' part of the score to score.
func addFiles(f *features, score float64) float64 {
	f.whole()
	switch {
	case f.files > 10:
		score += filesMaxBonus
	case f.files > 5:
		score += .06
	}
	return score
}
