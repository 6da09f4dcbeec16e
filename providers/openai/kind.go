package openai

import (
	"strings"

	"github.com/aigateway/gateway/providers"
)

// Kind is the "openai" provider kind: OpenAI itself, Groq, and any
// OpenAI-compatible server (vLLM, LM Studio, Azure), which a section with
// a base_url and no key enables.
var Kind = providers.Kind{
	Name: "openai",
	New: func(s providers.Settings) (providers.Provider, error) {
		// OpenAI itself: its preset (OPENAI_BASE_URL may point at a proxy
		// in front of it) or its host under another name.
		isOpenAI := s.Name == "openai" || strings.Contains(s.BaseURL, "api.openai.com")
		responses := isOpenAI
		if s.Responses != nil {
			responses = *s.Responses
		}
		return New(Config{
			Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, AuthHeader: s.AuthHeader,
			Query: s.Query, Headers: s.Headers, Timeout: s.Timeout, Options: s.Upstream,
			PromptCacheKey: isOpenAI,
			Responses:      responses,
			Batches:        isOpenAI,
		})
	},
	EnabledBy: providers.ByKey,
	Reads:     []string{"auth_header", "query"},
	Presets: []providers.Preset{
		{Name: "openai", BaseURL: "https://api.openai.com/v1", APIKeyEnv: "OPENAI_API_KEY", BaseURLEnv: "OPENAI_BASE_URL"},
		// https://console.groq.com/docs/openai
		{Name: "groq", BaseURL: "https://api.groq.com/openai/v1", APIKeyEnv: "GROQ_API_KEY", BaseURLEnv: "GROQ_BASE_URL"},
		// https://api-docs.deepseek.com: OpenAI-compatible at /v1 (chat
		// completions; its context cache's hits come back as
		// usage.prompt_cache_hit_tokens, read by providers.ParseUsage).
		{Name: "deepseek", BaseURL: "https://api.deepseek.com/v1", APIKeyEnv: "DEEPSEEK_API_KEY", BaseURLEnv: "DEEPSEEK_BASE_URL"},
	},
}
