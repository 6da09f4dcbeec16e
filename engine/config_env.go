package engine

// Environment variables over gateway.toml (README, docs/contract.md).

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/providers/kinds"
)

// applyEnv applies the environment variables, which override gateway.toml.
func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv("GATEWAY_SIM_CLOCK_FILE"); v != "" {
		c.clockFile = v
	}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("environment variable PORT=%q is not a port number", v)
		}
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			host = "127.0.0.1"
		}
		c.Listen = net.JoinHostPort(host, v)
	}
	if v := getenv("GATEWAY_API_KEY"); v != "" {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				c.Keys = append(c.Keys, KeyConfig{Key: k, Project: "default", Name: "env"})
			}
		}
	}
	if v := getenv("GATEWAY_ADMIN_KEY"); v != "" {
		c.AdminKey = v
	}
	if v := getenv("REDIS_URL"); v != "" {
		c.Cache.RedisURL = v
	}
	if v := getenv("DATABASE_URL"); v != "" {
		c.Store.URL = v
	}
	if v := getenv("SMART_ROUTING_MODE"); v != "" {
		c.Routing.Mode = v
	}
	if v := getenv("RATE_LIMIT_RPM"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("environment variable RATE_LIMIT_RPM=%q must be a positive integer", v)
		}
		c.Reliab.RateLimitRPM = n
	}
	if err := c.applyReliabilityEnv(getenv); err != nil {
		return err
	}
	flags := []struct {
		name string
		dst  *bool
	}{
		{"ENABLE_SMART_ROUTING", &c.Routing.SmartRouting},
		{"ENABLE_CASCADE_ROUTING", &c.Routing.Cascade},
		{"ENABLE_ANTHROPIC_CACHE_CONTROL", &c.Optimize.AnthropicCacheControl},
		{"ENABLE_FILE_HASH_CACHE", &c.Optimize.FileHashCache},
		{"STRIP_IDE_BOILERPLATE", &c.Optimize.StripIDEBoilerplate},
		{"ENFORCE_DIFF_FIRST", &c.Optimize.EnforceDiffFirst},
		{"CIRCUIT_BREAKER_ENABLED", &c.Reliab.CircuitBreaker},
		{"RETRY_ENABLED", &c.Reliab.Retry},
		{"RATE_LIMIT_ENABLED", &c.Reliab.RateLimit},
	}
	for _, f := range flags {
		if v := getenv(f.name); v != "" {
			b, err := ParseBool(f.name, v)
			if err != nil {
				return err
			}
			*f.dst = b
		}
	}
	// Provider base URLs from the environment override the file for the
	// built-in provider names (each kind's presets).
	for _, k := range kinds.All {
		for _, pre := range k.Presets {
			if pre.BaseURLEnv == "" {
				continue
			}
			if v := getenv(pre.BaseURLEnv); v != "" {
				p := c.Providers[pre.Name]
				p.BaseURL = v
				if c.Providers == nil {
					c.Providers = map[string]ProviderConfig{}
				}
				c.Providers[pre.Name] = p
			}
		}
	}
	return nil
}

// applyReliabilityEnv reads the seed's numeric reliability variables:
// CIRCUIT_BREAKER_THRESHOLD (breaker_failures), CIRCUIT_BREAKER_TIMEOUT and
// RETRY_BACKOFF_BASE (seconds; fractions allowed) and RETRY_MAX_ATTEMPTS.
func (c *Config) applyReliabilityEnv(getenv func(string) string) error {
	ints := []struct {
		name string
		min  int
		dst  *int
	}{
		{"CIRCUIT_BREAKER_THRESHOLD", 0, &c.Reliab.BreakerFailures},
		{"RETRY_MAX_ATTEMPTS", 1, &c.Reliab.RetryMaxAttempts},
	}
	for _, v := range ints {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < v.min {
				return fmt.Errorf("environment variable %s=%q must be an integer of at least %d", v.name, s, v.min)
			}
			*v.dst = n
		}
	}
	secs := []struct {
		name string
		dst  *Duration
	}{
		{"CIRCUIT_BREAKER_TIMEOUT", &c.Reliab.BreakerCooldown},
		{"RETRY_BACKOFF_BASE", &c.Reliab.RetryBackoffBase},
	}
	for _, v := range secs {
		if s := getenv(v.name); s != "" {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 || f > 86400 {
				return fmt.Errorf("environment variable %s=%q must be a number of seconds above 0", v.name, s)
			}
			*v.dst = Duration(time.Duration(f * float64(time.Second)))
		}
	}
	return nil
}
