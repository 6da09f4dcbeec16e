package semantic

// RedisStats describe the Redis tier.
type RedisStats struct {
	Healthy      bool   `json:"healthy"`
	Loads        uint64 `json:"loads"`
	Loaded       uint64 `json:"loaded"`
	Stores       uint64 `json:"stores"`
	Errors       uint64 `json:"errors"`
	Skipped      uint64 `json:"skipped"`
	QueuedWrites int64  `json:"queued_writes"`
}

// Stats is the state GET /admin/cache reports under "semantic".
type Stats struct {
	Entries        int               `json:"entries"`
	Scopes         int               `json:"scopes"`
	Bytes          int64             `json:"bytes"`
	Evicted        uint64            `json:"evicted"`
	Hits           uint64            `json:"hits"`
	Misses         uint64            `json:"misses"`
	Stores         uint64            `json:"stores"`
	NotStored      uint64            `json:"not_stored"`
	Ineligible     map[string]uint64 `json:"ineligible"`
	Refused        map[string]uint64 `json:"refused"`
	BelowThreshold uint64            `json:"below_threshold"`
	EmbedErrors    uint64            `json:"embed_errors"`
	EmbedSkipped   uint64            `json:"embed_skipped"`
	Threshold      float64           `json:"threshold"`
	Redis          *RedisStats       `json:"redis,omitempty"`
}

// Stats returns the counters and sizes.
func (c *Cache) Stats() Stats {
	var s Stats
	if c == nil {
		return s
	}
	s.Entries, s.Scopes, s.Bytes, s.Evicted = c.idx.counts()
	s.Hits, s.Misses, s.Stores, s.NotStored = c.ctr.hits.Load(), c.ctr.misses.Load(), c.ctr.stores.Load(), c.ctr.notStored.Load()
	s.Ineligible = map[string]uint64{}
	for i, r := range reasons {
		s.Ineligible[r] = c.ctr.ineligible[i].Load()
	}
	s.Refused = map[string]uint64{}
	for g := GuardLanguage; g < numGuards; g++ {
		s.Refused[g.String()] = c.ctr.refused[g].Load()
	}
	s.BelowThreshold = c.ctr.belowThreshold.Load()
	s.EmbedErrors, s.EmbedSkipped = c.ctr.embedErrors.Load(), c.ctr.embedSkipped.Load()
	s.Threshold = c.cfg.Threshold
	if c.rem != nil {
		s.Redis = &RedisStats{Healthy: c.rem.bo.Healthy(), Loads: c.ctr.redisLoads.Load(), Loaded: c.ctr.redisGot.Load(),
			Stores: c.ctr.redisStores.Load(), Errors: c.ctr.redisErrors.Load(), Skipped: c.ctr.redisSkipped.Load(),
			QueuedWrites: c.rem.pending.Load()}
	}
	return s
}
