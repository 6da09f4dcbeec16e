package openai

import (
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// AppendBody appends the upstream request body for req to dst: the client's
// bytes unchanged, except that the model value becomes model, gateway-only
// members are removed, and a streaming request always asks for usage.
// Members are never reordered and whitespace between them is kept.
func AppendBody(dst []byte, req *providers.Request, model string) []byte {
	return AppendBodyWith(dst, req, model, BodyOptions{})
}

// BodyOptions are additions the gateway may make to an OpenAI body.
type BodyOptions struct {
	// PromptCacheKey, when set, is sent as prompt_cache_key unless the
	// client sent one of its own. OpenAI's Chat Completions accept it
	// (https://platform.openai.com/docs/api-reference/chat/create, "Used by
	// OpenAI to cache responses for similar requests to optimize your cache
	// hit rates"): requests with the same key and prefix are routed to the
	// same prompt cache. The engine keys it by project. Only for OpenAI
	// itself: other OpenAI-format upstreams may refuse unknown members.
	PromptCacheKey string
	// NoReasoning drops the client's reasoning_effort: the model does not
	// reason and OpenAI refuses the member for such models (400
	// "reasoning_effort is not supported with this model").
	NoReasoning bool
	// CapMaxTokens, when > 0, caps the values of max_tokens and
	// max_completion_tokens (providers.Call.CapMaxTokens): a larger value
	// is rewritten in place, every other byte kept. OpenAI refuses a value
	// above the model's limit (400 invalid_value, "max_tokens is too large:
	// N. This model supports at most M completion tokens";
	// https://platform.openai.com/docs/api-reference/chat/create).
	CapMaxTokens int
}

// AppendBodyWith is AppendBody with the gateway's additions in opts,
// appended after the client's members so that no prefix moves.
func AppendBodyWith(dst []byte, req *providers.Request, model string, opts BodyOptions) []byte {
	b := req.Body
	prev := -1 // index in Fields of the previous kept member
	pos := 0   // bytes of b before pos are already written or dropped
	hasModel := false
	for i, f := range req.Fields {
		if isGatewayField(f.Key) || (opts.NoReasoning && f.Key == "reasoning_effort") {
			if prev < 0 {
				// Drop the member and the separator after it.
				dst = append(dst, b[pos:f.Start]...)
				pos = nextMemberStart(req, i)
			} else {
				// Drop the separator before it and the member (after
				// another dropped member, pos is already past prev).
				if end := req.Fields[prev].End; pos < end {
					dst = append(dst, b[pos:end]...)
				}
				pos = f.End
			}
			continue
		}
		switch f.Key {
		case "model":
			hasModel = true
			dst = append(dst, b[pos:f.ValStart]...)
			dst = jsonscan.AppendQuote(dst, model)
			pos = f.End
		case "max_tokens", "max_completion_tokens":
			v := b[f.ValStart:f.End]
			if n, err := jsonscan.ParseInt(v); err == nil && opts.CapMaxTokens > 0 && n > int64(opts.CapMaxTokens) {
				dst = append(dst, b[pos:f.ValStart]...)
				dst = strconv.AppendInt(dst, int64(opts.CapMaxTokens), 10)
				pos = f.End
			}
		case "stream_options":
			if req.Stream && !req.IncludeUsage {
				dst = append(dst, b[pos:f.ValStart]...)
				dst = appendUsageOptions(dst, b[f.ValStart:f.End])
				pos = f.End
			}
		}
		prev = i
	}
	_, hasOpts := req.Field("stream_options")
	needOpts := req.Stream && !req.IncludeUsage && !hasOpts
	needKey := false
	if opts.PromptCacheKey != "" {
		_, hasKey := req.Field("prompt_cache_key")
		needKey = !hasKey
	}
	if !hasModel || needOpts || needKey {
		// Insert before the closing brace of the top-level object.
		end := len(b) - 1
		for end > 0 && b[end] != '}' {
			end--
		}
		dst = append(dst, b[pos:end]...)
		sep := prev >= 0
		if !hasModel {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"model":`...)
			dst = jsonscan.AppendQuote(dst, model)
			sep = true
		}
		if needOpts {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"stream_options":{"include_usage":true}`...)
			sep = true
		}
		if needKey {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"prompt_cache_key":`...)
			dst = jsonscan.AppendQuote(dst, opts.PromptCacheKey)
		}
		pos = end
	}
	return append(dst, b[pos:]...)
}

func nextMemberStart(req *providers.Request, i int) int {
	if i+1 < len(req.Fields) {
		return req.Fields[i+1].Start
	}
	// The only member: keep the closing brace.
	end := len(req.Body) - 1
	for end > 0 && req.Body[end] != '}' {
		end--
	}
	return end
}

func isGatewayField(k string) bool {
	for _, g := range gatewayFields {
		if k == g {
			return true
		}
	}
	return false
}

// appendUsageOptions rewrites a stream_options value so that include_usage is
// true and every other option is kept.
func appendUsageOptions(dst, opts []byte) []byte {
	dst = append(dst, `{"include_usage":true`...)
	if jsonscan.KindOf(opts) == jsonscan.Object {
		_ = jsonscan.ObjectEach(opts, func(k, v []byte) error {
			if string(k) == "include_usage" {
				return nil
			}
			dst = append(dst, ',', '"')
			dst = append(dst, k...)
			dst = append(dst, '"', ':')
			dst = append(dst, v...)
			return nil
		})
	}
	return append(dst, '}')
}
