package engine

import (
	"encoding/json"
	"reflect"

	"github.com/openai/openai-go/v3"
)

func openaiEmbeddingParams(model string, in []string) openai.EmbeddingNewParams {
	return openai.EmbeddingNewParams{Model: openai.EmbeddingModel(model), Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: in}}
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
