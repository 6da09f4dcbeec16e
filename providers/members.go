package providers

import "github.com/aigateway/gateway/internal/jsonscan"

// The member names the gateway reads in each kind of object of a chat
// completion request. Decode refuses an object in which one of them appears
// twice or spelled otherwise than plainly (jsonscan.Names.Check; the rule and
// why are in docs/requests.md): the gateway and an OpenAI-format upstream,
// which receives the client's bytes, must read the same members. Each table
// is indexed by its constants, and the decoder switches on the index Check
// returns, so a name cannot be decoded without being checked.
//
// Tables also list names that other parts of the gateway read from the body
// (the translators, the cache, the policies' input): a repeat of those would
// split the gateway's reading from the upstream's just the same.

// Top-level members.
const (
	fModel = iota
	fMessages
	fStream
	fStreamOptions
	fTemperature
	fTopP
	fMaxTokens
	fMaxCompletionTokens
	fN
	fSeed
	fUser
	fSkill
	fReasoningEffort
	fStop
	fTools
	fToolChoice
	fParallelToolCalls
	fResponseFormat
	// Read elsewhere: providers/openai (prompt_cache_key), engine/cache
	// (logprobs, top_logprobs, audio, modalities), providers/ollama
	// (options, num_ctx, keep_alive, think), the policies' input
	// (gateway_skill, smart_routing, functions).
	fPromptCacheKey
	fLogprobs
	fTopLogprobs
	fAudio
	fModalities
	fOptions
	fNumCtx
	fKeepAlive
	fThink
	fGatewaySkill
	fSmartRouting
	fFunctions
	numTopNames
)

var topNames = jsonscan.NewNames((&[numTopNames]string{
	fModel: "model", fMessages: "messages", fStream: "stream", fStreamOptions: "stream_options",
	fTemperature: "temperature", fTopP: "top_p", fMaxTokens: "max_tokens",
	fMaxCompletionTokens: "max_completion_tokens", fN: "n", fSeed: "seed", fUser: "user",
	fSkill: "skill", fReasoningEffort: "reasoning_effort", fStop: "stop", fTools: "tools", fToolChoice: "tool_choice",
	fParallelToolCalls: "parallel_tool_calls", fResponseFormat: "response_format",
	fPromptCacheKey: "prompt_cache_key", fLogprobs: "logprobs", fTopLogprobs: "top_logprobs",
	fAudio: "audio", fModalities: "modalities", fOptions: "options", fNumCtx: "num_ctx",
	fKeepAlive: "keep_alive", fThink: "think", fGatewaySkill: "gateway_skill",
	fSmartRouting: "smart_routing", fFunctions: "functions",
})[:]...)

// stream_options members.
const (
	soIncludeUsage = iota
	numSONames
)

var streamOptionsNames = jsonscan.NewNames((&[numSONames]string{soIncludeUsage: "include_usage"})[:]...)

// response_format members, and those of its json_schema object (read by the
// Anthropic and Gemini translators, not by the decoder).
const (
	rfType = iota
	rfJSONSchema
	numRFNames
)

var (
	responseFormatNames = jsonscan.NewNames((&[numRFNames]string{rfType: "type", rfJSONSchema: "json_schema"})[:]...)
	jsonSchemaMembers   = jsonscan.NewSchema("name", "description", "schema", "strict")
)

// Tool members; cache_control is read by the Anthropic translator.
const (
	tType = iota
	tFunction
	tCacheControl
	numToolNames
)

var toolNames = jsonscan.NewNames((&[numToolNames]string{tType: "type", tFunction: "function", tCacheControl: "cache_control"})[:]...)

// Message members.
const (
	mRole = iota
	mContent
	mName
	mToolCallID
	mToolCalls
	numMsgNames
)

var messageNames = jsonscan.NewNames((&[numMsgNames]string{
	mRole: "role", mContent: "content", mName: "name", mToolCallID: "tool_call_id", mToolCalls: "tool_calls",
})[:]...)

// Content part members; refusal, file and cache_control are read by the
// translators from Part.Raw. image_url's object has url and detail.
const (
	ptType = iota
	ptText
	ptImageURL
	ptRefusal
	ptFile
	ptCacheControl
	numPartNames
)

var partNames = jsonscan.NewNames((&[numPartNames]string{
	ptType: "type", ptText: "text", ptImageURL: "image_url", ptRefusal: "refusal", ptFile: "file", ptCacheControl: "cache_control",
})[:]...)

const (
	iuURL = iota
	iuDetail
	numImageURLNames
)

var imageURLNames = jsonscan.NewNames((&[numImageURLNames]string{iuURL: "url", iuDetail: "detail"})[:]...)

// Members of a tool's function.
const (
	tfName = iota
	tfDescription
	tfParameters
	tfStrict
	numToolFnNames
)

var toolFunctionNames = jsonscan.NewNames((&[numToolFnNames]string{
	tfName: "name", tfDescription: "description", tfParameters: "parameters", tfStrict: "strict",
})[:]...)

// Tool call members, and those of a call's function.
const (
	tcID = iota
	tcType
	tcFunction
	numCallNames
)

var toolCallNames = jsonscan.NewNames((&[numCallNames]string{tcID: "id", tcType: "type", tcFunction: "function"})[:]...)

const (
	cfName = iota
	cfArguments
	numCallFnNames
)

var callFunctionNames = jsonscan.NewNames((&[numCallFnNames]string{cfName: "name", cfArguments: "arguments"})[:]...)

// Codes of the errors for values OpenAI refuses with a code of its own that
// clients read (a missing json_schema name, an unknown response_format
// type).
const (
	CodeInvalidValue     = "invalid_value"
	CodeMissingParameter = "missing_required_parameter"
)

// Codes of the errors for refused member names.
const (
	// CodeDuplicateMember: a member the gateway reads appears twice in one
	// object, in the same spelling or another.
	CodeDuplicateMember = "duplicate_member"
	// CodeAmbiguousMember: a member name is one the gateway reads, spelled
	// with escapes or in another case.
	CodeAmbiguousMember = "ambiguous_member"
)

// NameErr converts a *jsonscan.NameError found in the object at path (""
// for the top level) to a *RequestError with CodeDuplicateMember or
// CodeAmbiguousMember; any other error is returned as it is.
func NameErr(path string, err error) error {
	ne, ok := err.(*jsonscan.NameError)
	if !ok {
		return err
	}
	switch {
	case path == "":
	case ne.Path == "":
		ne.Path = path
	case ne.Path[0] == '[':
		ne.Path = path + ne.Path
	default:
		ne.Path = path + "." + ne.Path
	}
	code := CodeAmbiguousMember
	if ne.Repeated {
		code = CodeDuplicateMember
	}
	return &RequestError{Param: ne.Param(), Code: code, Msg: ne.Error()}
}

// nameErr is NameErr for an object at p, whose path is built only here, on
// the error path.
func nameErr(p path, err error) error { return NameErr(p.String(), err) }

// embeddingsNames are the members of an embeddings request that the gateway
// reads: model (the engine), input, encoding_format, dimensions (every
// translator) and Ollama's truncate, keep_alive and options.
var embeddingsNames = jsonscan.NewSchema("model", "input", "encoding_format", "dimensions",
	"truncate", "keep_alive", "options")

// CheckEmbeddingsNames refuses a validated embeddings request body (an
// object) in which a member the gateway reads appears twice, or spelled
// with escapes or in another case, like Decode does for chat completions:
// an OpenAI-format upstream receives the client's bytes with only the model
// replaced, so the gateway must price the model the upstream runs. The
// error is a *RequestError with CodeDuplicateMember or CodeAmbiguousMember.
func CheckEmbeddingsNames(body []byte) error {
	if err := jsonscan.CheckNames(body[jsonscan.SkipSpace(body, 0):], embeddingsNames); err != nil {
		return NameErr("", err)
	}
	return nil
}
