package engine

import "github.com/openai/openai-go/v3"

func openaiEmbeddingParams(model string, in []string) openai.EmbeddingNewParams {
	return openai.EmbeddingNewParams{Model: openai.EmbeddingModel(model), Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: in}}
}
