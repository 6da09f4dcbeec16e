package providers

import "testing"

// errorBody is an upstream error answer of ordinary size.
const errorBody = `{"error":{"message":"The server had an error while processing your request. Sorry about that! You can retry your request, or contact us through our help center if the error persists.","type":"server_error","param":null,"code":null}}`

func BenchmarkRedactorNoSecret(b *testing.B) {
	r := NewRedactor("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	b.SetBytes(int64(len(errorBody)))
	for b.Loop() {
		_ = r.String(errorBody)
	}
	b.ReportMetric(float64(len(r.needles)), "needles")
}

func BenchmarkRedactorSecret(b *testing.B) {
	r := NewRedactor("0123456789abcdef0123456789abcdef")
	s := `{"error":{"message":"Incorrect API key provided: 0123456789abcdef0123456789abcdef. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = r.String(s)
	}
}

func BenchmarkNewRedactor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRedactor("3f2b8c1e-9a4d-4e6f-b2c7-1d8e5a9f0b3c")
	}
}
