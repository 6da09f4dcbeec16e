// Package gemini is the provider for Google's Gemini API
// (https://ai.google.dev/api/generate-content), translating exactly between
// it and OpenAI's Chat Completions format.
//
// # Requests
//
// Provider.Chat sends POST {BaseURL}/v1beta/models/{model}:generateContent,
// or :streamGenerateContent?alt=sse for streams, with the key in
// x-goog-api-key (never in the URL, so that no log line can hold it). A
// "models/" prefix on the model is dropped; a model name with other bytes
// than letters, digits, '-', '.' and '_' is a 400. The body maps as follows:
//   - system and developer messages become systemInstruction parts, in
//     order;
//   - user and assistant messages become contents with roles user and
//     model; consecutive messages of one role merge into one turn;
//   - text parts stay text; image data URLs become inlineData, http(s)
//     image URLs fileData with the MIME type guessed from the extension
//     (JPEG when unknown); file parts with inline data become inlineData;
//     audio and file ids are a 400;
//   - assistant tool_calls become functionCall parts, the arguments string
//     parsed as the args object (empty means {}; anything that is not a
//     JSON object is a 400 naming the message);
//   - tool messages become functionResponse parts, consecutive ones in one
//     user turn of their own; the function's name is recovered from the
//     earlier assistant call with the same id (no such call is a 400); a
//     result that is a JSON object is the response itself, any other text is
//     {"output": text}, Gemini's documented key for a function's output;
//   - tools become one functionDeclarations tool, each schema reduced to the
//     subset Gemini accepts (see schemaWriter for the exact list of what is
//     kept, rewritten and dropped); a function whose parameters have no
//     properties is declared without parameters, which Gemini requires;
//   - tool_choice auto/none/required/named becomes functionCallingConfig
//     mode AUTO/NONE/ANY, the named one with allowedFunctionNames;
//     parallel_tool_calls has no Gemini switch and is ignored;
//   - temperature, top_p, max_tokens, stop and seed become generationConfig
//     temperature, topP, maxOutputTokens, stopSequences and seed; user has
//     no Gemini field and is dropped; n > 1 is a 400;
//   - reasoning_effort low, medium and high becomes
//     generationConfig.thinkingConfig.thinkingBudget 1024, 8192 and 24576
//     tokens (other values, and models the catalog knows do not think,
//     keep the model's default);
//   - response_format json_object becomes responseMimeType
//     application/json, json_schema adds responseSchema (reduced). Gemini
//     refuses a JSON MIME type together with function calling, so with
//     tools the request asks for JSON in the system instruction instead.
//
// # Tool call ids and thought signatures
//
// Gemini's function calls usually carry no id. The OpenAI id is then
// synthesised as "call_" plus 16 hex digits of a hash of the response id,
// the call's position, its name and its arguments: stable for a given
// answer (streamed or not), distinct across answers. A thoughtSignature
// that Gemini attached to the call is appended to the id after
// "__thought__", so that a client echoing the id back returns the
// signature to Gemini, which thinking models need to keep their context. A
// function call sent to a Gemini 3 (or later) model without a signature,
// from a conversation begun elsewhere, gets SkipSignature, the value Google
// documents for that case.
//
// # Responses
//
// The first candidate is translated: text parts are joined, thought parts
// become reasoning_content (never content), function calls become
// tool_calls with compact arguments; executable code and other part types
// are dropped. finishReason maps as FinishReason documents; a prompt blocked
// by promptFeedback is "content_filter". usageMetadata maps to usage:
// prompt_tokens is promptTokenCount (which includes cached content) plus
// toolUsePromptTokenCount, completion_tokens is candidatesTokenCount plus
// thoughtsTokenCount, cached_tokens is cachedContentTokenCount and
// reasoning_tokens is thoughtsTokenCount.
//
// Streams are translated chunk by chunk by a Translator; errors follow
// ParseError.
//
// # Embeddings
//
// Provider.Embed sends an OpenAI embeddings request body to
// :batchEmbedContents; EmbedRequest and EmbedResponse are the two halves of
// its translation, exported for the engine. dimensions becomes
// outputDimensionality (the model refuses it if it cannot); encoding_format
// base64 is encoded by the gateway; token-array inputs are a 400. Gemini
// reports no usage for embeddings, so prompt_tokens is an estimate (a token
// per four bytes of input).
package gemini
