package engine

// The [cache], [optimize] and [reliability] sections of gateway.toml.

import (
	"github.com/aigateway/gateway/engine/limits"
)

// CacheConfig configures the response cache (see docs/caching.md).
type CacheConfig struct {
	RedisURL string `toml:"redis_url"`
	MemoryMB int    `toml:"memory_mb"`
	// Enabled turns the exact response cache on (default true).
	Enabled bool `toml:"enabled"`
	// Mode: "auto" (temperature 0, or absent on a deterministic model),
	// "always" or "never".
	Mode          string   `toml:"mode"`
	TTL           Duration `toml:"ttl"`
	MaxEntryBytes int      `toml:"max_entry_bytes"`
	SkipToolCalls bool     `toml:"skip_tool_calls"`
	HotEntries    int      `toml:"hot_entries"`
	HotMaxBytes   int      `toml:"hot_max_bytes"`
	CompressBytes int      `toml:"compress_bytes"`
	RedisTimeout  Duration `toml:"redis_timeout"`
	RedisBackoff  Duration `toml:"redis_backoff"`
	RedisMaxBack  Duration `toml:"redis_max_backoff"`
	RedisQueue    int      `toml:"redis_queue"`
	FlightTimeout Duration `toml:"flight_timeout"`
	// Models and Projects override mode and ttl per "provider/model" and per
	// project.
	Models   map[string]CacheRule `toml:"models"`
	Projects map[string]CacheRule `toml:"projects"`
	// Semantic is the opt-in semantic cache.
	Semantic SemanticConfig `toml:"semantic"`
}

// SemanticConfig configures the semantic cache (docs/semantic-cache.md).
type SemanticConfig struct {
	// Enabled turns it on for Projects (every project when Projects is
	// empty).
	Enabled  bool     `toml:"enabled"`
	Projects []string `toml:"projects"`
	// Threshold is the lowest cosine similarity that matches.
	Threshold float64 `toml:"threshold"`
	// MaxTurnChars is the longest final user turn matched.
	MaxTurnChars int `toml:"max_turn_chars"`
	// EmbeddingModel embeds turns ("provider/model" with embeddings); empty:
	// the built-in local lexical embedder (no network).
	EmbeddingModel string `toml:"embedding_model"`
	// MaxWordDiff is how many content words one final turn may have that
	// the other lacks (0, the default: none; -1: the word guard is off).
	MaxWordDiff int `toml:"max_word_diff"`
	// MaxEntriesPerScope, MaxEntries and MaxMB bound the in-process index
	// (0: the defaults, 1024, 16384 and 64 MB).
	MaxEntriesPerScope int `toml:"max_entries_per_scope"`
	MaxEntries         int `toml:"max_entries"`
	MaxMB              int `toml:"max_mb"`
	// StoreToolCalls stores answers that call tools (off by default).
	StoreToolCalls bool `toml:"store_tool_calls"`
	// RefreshInterval is how often a scope is reloaded from Redis on a
	// local miss; EmbedTimeout bounds a remote embedder's call; EmbedQueue
	// bounds stores waiting for it (0: 5s, 1s, 256).
	RefreshInterval Duration `toml:"refresh_interval"`
	EmbedTimeout    Duration `toml:"embed_timeout"`
	EmbedQueue      int      `toml:"embed_queue"`
}

// CacheRule overrides the cache policy for one model or project.
type CacheRule struct {
	Mode string   `toml:"mode"`
	TTL  Duration `toml:"ttl"`
}

// OptimizeConfig holds the seed's prompt-optimisation switches.
type OptimizeConfig struct {
	AnthropicCacheControl bool `toml:"anthropic_cache_control"`
	// AnthropicCacheLedger makes breakpoint placement use the prefix ledger
	// (docs/prompt-caching.md); off, the stateless rules place them.
	AnthropicCacheLedger bool `toml:"anthropic_cache_ledger"`
	// AnthropicCache1h lets the ledger give breakpoints Anthropic's 1-hour
	// TTL where a session's pauses, or a client's recurring sessions, make
	// it pay (docs/prompt-caching.md); off, every breakpoint keeps 5
	// minutes.
	AnthropicCache1h bool `toml:"anthropic_cache_1h"`
	// PromptCacheKey sends OpenAI a prompt_cache_key per conversation
	// (engine/promptkey.go); off, only a client's own key is sent.
	PromptCacheKey      bool `toml:"prompt_cache_key"`
	FileHashCache       bool `toml:"file_hash_cache"`
	StripIDEBoilerplate bool `toml:"strip_ide_boilerplate"`
	EnforceDiffFirst    bool `toml:"enforce_diff_first"`
}

// ReliabilityConfig holds the seed's reliability switches and their tuning.
type ReliabilityConfig struct {
	CircuitBreaker bool `toml:"circuit_breaker"`
	Retry          bool `toml:"retry"`
	RateLimit      bool `toml:"rate_limit"`
	RateLimitRPM   int  `toml:"rate_limit_rpm"`
	// RateLimitBurst is the GCRA burst (0: equal to rate_limit_rpm).
	RateLimitBurst int `toml:"rate_limit_burst"`
	// RetryMaxAttempts is the attempts per model, the first included.
	RetryMaxAttempts int `toml:"retry_max_attempts"`
	// RetryBackoffBase and RetryBackoffMax shape exponential backoff with
	// full jitter.
	RetryBackoffBase Duration `toml:"retry_backoff_base"`
	RetryBackoffMax  Duration `toml:"retry_backoff_max"`
	// RetryBudget bounds a request's retries and fallbacks together.
	RetryBudget Duration `toml:"retry_budget"`
	// BreakerFailures opens a provider's breaker after that many consecutive
	// upstream failures; BreakerCooldown is how long it stays open.
	BreakerFailures int      `toml:"breaker_failures"`
	BreakerCooldown Duration `toml:"breaker_cooldown"`
	// BreakerFailureRatio opens it when at least that share of the calls in
	// BreakerWindow failed, once BreakerMinRequests calls happened there
	// (0: the consecutive count alone).
	BreakerFailureRatio float64  `toml:"breaker_failure_ratio"`
	BreakerWindow       Duration `toml:"breaker_window"`
	BreakerMinRequests  int      `toml:"breaker_min_requests"`
	// BreakerProbes is how many calls a half-open breaker lets through;
	// BreakerSuccesses how many of them must succeed to close it.
	BreakerProbes    int `toml:"breaker_probes"`
	BreakerSuccesses int `toml:"breaker_successes"`
	// BreakerPerModel keys breakers by provider and model.
	BreakerPerModel bool `toml:"breaker_per_model"`
	// RateLimitPerKey gives each client key its own rate_limit_rpm inside
	// its project's.
	RateLimitPerKey bool `toml:"rate_limit_per_key"`
	// RetryMaxRetryAfter is the longest upstream Retry-After waited for
	// before a retry; a longer one falls back at once.
	RetryMaxRetryAfter Duration `toml:"retry_max_retry_after"`
	// RateLimitRedisTimeout bounds one rate-limit decision's Redis round
	// trip; RateLimitRedisRetry is how long a replica decides locally after
	// Redis failed before it probes Redis again.
	RateLimitRedisTimeout Duration `toml:"rate_limit_redis_timeout"`
	RateLimitRedisRetry   Duration `toml:"rate_limit_redis_retry"`
	// Fallbacks lists, per model name, the models tried in order when it
	// fails (retries exhausted, breaker open, provider busy).
	Fallbacks map[string][]string `toml:"fallbacks"`
}

// redisLimits is the shared rate limiter's configuration.
func (c *Config) redisLimits() limits.RedisConfig {
	rc := limits.DefaultRedisConfig()
	rc.Timeout, rc.RetryInterval = c.Reliab.RateLimitRedisTimeout.D(), c.Reliab.RateLimitRedisRetry.D()
	return rc
}
