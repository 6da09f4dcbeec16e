package providers

import "testing"

// The usage objects are the providers' documented shapes: OpenAI's
// (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage)
// and DeepSeek's (https://api-docs.deepseek.com/api/create-chat-completion:
// prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt_tokens).
func TestParseUsageCachedTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body     string
		prompt, cached int
	}{
		{"openai", `{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920}}`, 2006, 1920},
		{"deepseek", `{"prompt_tokens":5000,"completion_tokens":20,"total_tokens":5020,"prompt_cache_hit_tokens":4864,"prompt_cache_miss_tokens":136}`, 5000, 4864},
		{"deepseek, both", `{"prompt_tokens_details":{"cached_tokens":4864},"prompt_cache_hit_tokens":4864,"prompt_tokens":5000}`, 5000, 4864},
		{"deepseek, details zero", `{"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":4864,"prompt_tokens":5000}`, 5000, 4864},
		{"no cache", `{"prompt_tokens":12,"completion_tokens":3}`, 12, 0},
	} {
		u := ParseUsage([]byte(tc.body))
		if u.PromptTokens != tc.prompt || u.CachedTokens != tc.cached || !u.Set {
			t.Errorf("%s: prompt %d cached %d, want %d %d", tc.name, u.PromptTokens, u.CachedTokens, tc.prompt, tc.cached)
		}
	}
}
