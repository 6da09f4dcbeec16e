package batch

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strconv"

	"github.com/aigateway/gateway/engine/store"
)

// File purposes: what clients upload, and what the runner writes.
const (
	PurposeBatch  = "batch"
	PurposeOutput = "batch_output"
)

// Endpoints a batch may name, OpenAI's four
// (https://platform.openai.com/docs/api-reference/batch/create#batch-create-endpoint);
// each runs through the gateway's handler for that path.
var endpoints = map[string]bool{
	"/v1/chat/completions": true,
	"/v1/completions":      true,
	"/v1/embeddings":       true,
	"/v1/responses":        true,
}

// lineError is one entry of a batch's errors list (OpenAI's BatchError:
// https://platform.openai.com/docs/api-reference/batch/object): param and
// line are null when they do not apply.
type lineError struct {
	Code    string
	Message string
	Param   string // "" is null
	Line    int    // 0 is null
}

// MarshalJSON writes the four members OpenAI's BatchError has, null for
// an unset param or line.
func (e lineError) MarshalJSON() ([]byte, error) {
	var v struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
		Line    *int    `json:"line"`
	}
	v.Code, v.Message = e.Code, e.Message
	if e.Param != "" {
		v.Param = &e.Param
	}
	if e.Line > 0 {
		v.Line = &e.Line
	}
	return json.Marshal(v)
}

type errorList struct {
	Object string      `json:"object"`
	Data   []lineError `json:"data"`
}

// maxLineErrors bounds the errors a failed batch lists.
const maxLineErrors = 100

// eachLine calls fn with every non-blank line of a JSONL file and its
// 1-based line number; a trailing \r is dropped.
func eachLine(content []byte, fn func(n int, line []byte) bool) {
	n := 0
	for len(content) > 0 {
		n++
		line := content
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			line, content = content[:i], content[i+1:]
		} else {
			content = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !fn(n, line) {
			return
		}
	}
}

// checkUpload is the upload's check of a batch input file: it has request
// lines, at most maxItems. It returns the first problem, nil when none.
// What the lines hold is the batch's business, as on OpenAI, which stores
// a batch input file as uploaded and reports a line that cannot be a
// request when a batch validates it (status failed, errors.data with
// invalid_json_line and the line; parseItems).
func checkUpload(content []byte, maxItems int) *lineError {
	var bad *lineError
	count := 0
	eachLine(content, func(n int, _ []byte) bool {
		count++
		if count > maxItems {
			bad = &lineError{Code: "too_many_requests", Line: n, Param: "file",
				Message: "A batch input file holds at most " + strconv.Itoa(maxItems) + " requests."}
			return false
		}
		return true
	})
	if bad == nil && count == 0 {
		bad = &lineError{Code: "empty_file", Param: "file", Message: "The file has no request lines."}
	}
	return bad
}

// parseItems turns an input file into a batch's items. A line that cannot
// be an item at all (not an object, no custom_id, a custom_id seen before)
// fails the whole batch, as on OpenAI, and is returned among errs; a line
// whose request is wrong (method, url, body) becomes a failed item whose
// error line goes to the error file.
func parseItems(content []byte, endpoint string, maxItems int) (items []store.BatchItem, errs []lineError) {
	seen := map[string]bool{}
	eachLine(content, func(n int, line []byte) bool {
		if len(items) >= maxItems {
			errs = append(errs, lineError{Code: "too_many_requests", Line: n,
				Message: "A batch holds at most " + strconv.Itoa(maxItems) + " requests."})
			return false
		}
		var req struct {
			CustomID *string         `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		if !json.Valid(line) {
			// OpenAI's words for it.
			errs = append(errs, lineError{Code: "invalid_json_line", Line: n, Message: "This line is not parseable as valid JSON."})
			return len(errs) < maxLineErrors
		}
		if err := json.Unmarshal(line, &req); err != nil {
			errs = append(errs, lineError{Code: "invalid_json_line", Line: n, Message: "Line " + strconv.Itoa(n) + " is not a valid request object: " + err.Error()})
			return len(errs) < maxLineErrors
		}
		if req.CustomID == nil || *req.CustomID == "" {
			errs = append(errs, lineError{Code: "missing_required_parameter", Param: "custom_id", Line: n, Message: "Line " + strconv.Itoa(n) + " has no custom_id."})
			return len(errs) < maxLineErrors
		}
		id := *req.CustomID
		if seen[id] {
			errs = append(errs, lineError{Code: "duplicate_custom_id", Param: "custom_id", Line: n,
				Message: "The custom_id " + strconv.Quote(id) + " on line " + strconv.Itoa(n) + " appears on an earlier line; each request needs its own."})
			return len(errs) < maxLineErrors
		}
		seen[id] = true
		it := store.BatchItem{Line: n, CustomID: id, Body: []byte(req.Body), State: store.ItemPending}
		msg := ""
		switch {
		case req.Method != "POST":
			msg = "method must be POST, not " + strconv.Quote(req.Method) + "."
		case req.URL != endpoint:
			msg = "url " + strconv.Quote(req.URL) + " does not match the batch's endpoint " + endpoint + "."
		case len(req.Body) == 0 || req.Body[0] != '{':
			msg = "body must be a JSON object (the request for " + endpoint + ")."
		case streams(req.Body):
			msg = "stream is not supported in a batch request."
		}
		if msg != "" {
			it.Body = []byte("{}")
			it.State, it.Result = store.ItemFailed, errorLine(id, "invalid_request", "Line "+strconv.Itoa(n)+": "+msg)
		}
		items = append(items, it)
		return true
	})
	if len(errs) == 0 && len(items) == 0 {
		errs = append(errs, lineError{Code: "empty_file", Param: "input_file_id", Message: "The input file has no request lines."})
	}
	return items, errs
}

func streams(body []byte) bool {
	var b struct {
		Stream bool `json:"stream"`
	}
	return json.Unmarshal(body, &b) == nil && b.Stream
}

// outputLine is a line of the output or error file (OpenAI's
// BatchRequestOutput): response for requests that got an HTTP answer,
// error for those that did not.
type outputLine struct {
	ID       string          `json:"id"`
	CustomID string          `json:"custom_id"`
	Response *outputResponse `json:"response"`
	Error    *outputError    `json:"error"`
}

type outputResponse struct {
	StatusCode int             `json:"status_code"`
	RequestID  string          `json:"request_id"`
	Body       json.RawMessage `json:"body"`
}

type outputError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// responseLine is the line of an item that got an HTTP answer.
func responseLine(customID string, r Result) []byte {
	body := r.Body
	if !json.Valid(body) {
		body, _ = json.Marshal(map[string]any{"error": map[string]any{"message": string(body), "type": "server_error", "param": nil, "code": "invalid_response"}})
	}
	b, _ := json.Marshal(outputLine{ID: "batch_req_" + newSuffix(24), CustomID: customID,
		Response: &outputResponse{StatusCode: r.Status, RequestID: r.RequestID, Body: body}})
	return b
}

// errorLine is the line of an item that got no HTTP answer.
func errorLine(customID, code, msg string) []byte {
	b, _ := json.Marshal(outputLine{ID: "batch_req_" + newSuffix(24), CustomID: customID, Error: &outputError{Code: code, Message: msg}})
	return b
}

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// newSuffix returns n random lower-case base-36 characters.
func newSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
