package engine

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"

	"github.com/VictoriaMetrics/metrics"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"
)

// Request bodies as clients send them, before any handler reads one: a body
// sent with Content-Encoding is decoded (gzip, deflate, zstd), and a UTF-8
// byte order mark in front of a JSON body is dropped. Both are rare (the
// OpenAI and Anthropic SDKs send plain JSON), so a request without either
// costs one header lookup and one byte comparison.

var (
	bodiesDecoded      = metrics.NewCounter(`gateway_request_bodies_decoded_total`)
	bodiesBOM          = metrics.NewCounter(`gateway_request_bodies_bom_total`)
	bodyEncodingErrors = metrics.NewCounter(`gateway_errors_total{code="unsupported_content_encoding"}`)
	bodyDecodeErrors   = metrics.NewCounter(`gateway_errors_total{code="invalid_content_encoding"}`)
)

// acceptedEncodings is what a 415 lists in Accept-Encoding (RFC 9110
// §12.5.3: in a response it names the content codings the resource accepts
// in a request).
const acceptedEncodings = "gzip, deflate, zstd"

// utf8BOM is the byte order mark RFC 8259 §8.1 lets a JSON parser ignore
// ("MAY ignore the presence of a byte order mark rather than treating it
// as an error"); editors on Windows save files with one, and `curl -d
// @file` sends it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// normalizeBody decodes ctx's request body in place. It reports false after
// writing the error answer when the body cannot be read: an encoding the
// gateway does not decode (415), a body that is not in the encoding its
// header names (400), or one that decodes past max_body_bytes (413, as an
// uncompressed body that large would be).
func (s *Server) normalizeBody(ctx *fasthttp.RequestCtx) bool {
	if enc := ctx.Request.Header.ContentEncoding(); len(enc) > 0 {
		if !s.decodeBody(ctx, enc) {
			return false
		}
	}
	if b := ctx.Request.Body(); bytes.HasPrefix(b, utf8BOM) {
		// Only a JSON body: a multipart upload starts with its boundary,
		// and a file's own bytes are never touched.
		if rest := bytes.TrimLeft(b[len(utf8BOM):], " \t\r\n"); len(rest) > 0 && (rest[0] == '{' || rest[0] == '[') {
			bodiesBOM.Inc()
			ctx.Request.SetBody(b[len(utf8BOM):]) // copies forward within the buffer
		}
	}
	return true
}

// decodeBody replaces the body by its decoding under enc (a Content-Encoding
// value: one coding, or several applied in order) and removes the header;
// a body only in "identity" is left as it is.
func (s *Server) decodeBody(ctx *fasthttp.RequestCtx, enc []byte) bool {
	codings := bytes.Split(enc, []byte{','})
	body := ctx.Request.Body()
	decoded := false
	// Codings are listed in the order they were applied: undo them from
	// the last (RFC 9110 §8.4).
	for i := len(codings) - 1; i >= 0; i-- {
		c := string(bytes.ToLower(bytes.TrimSpace(codings[i])))
		var r io.Reader
		var err error
		switch c {
		case "identity", "":
			continue
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(bytes.NewReader(body))
		case "deflate":
			// HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2).
			r, err = zlib.NewReader(bytes.NewReader(body))
		case "zstd":
			var d *zstd.Decoder
			d, err = zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(s.cfg.MaxBodyBytes)+1<<20))
			if err == nil {
				defer d.Close()
				r = d
			}
		default:
			bodyEncodingErrors.Inc()
			ctx.Response.Header.Set("Accept-Encoding", acceptedEncodings)
			writeErrorFor(ctx, &apiError{Status: 415, Type: typeInvalidRequest, Code: "unsupported_content_encoding",
				Msg: fmt.Sprintf("Content-Encoding %q is not supported: send the body uncompressed or as %s", c, acceptedEncodings)})
			return false
		}
		if err == nil {
			body, err = readLimited(r, s.cfg.MaxBodyBytes)
		}
		if errors.Is(err, errDecodedTooLarge) {
			bodyTooLarge.Inc()
			writeErrorFor(ctx, &apiError{Status: 413, Type: typeInvalidRequest, Code: "request_too_large",
				Msg: fmt.Sprintf("Request body exceeds the limit of %d bytes (max_body_bytes) once decoded", s.cfg.MaxBodyBytes)})
			return false
		}
		if err != nil {
			bodyDecodeErrors.Inc()
			writeErrorFor(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_content_encoding",
				Msg: fmt.Sprintf("Request body is not valid %s data: %v", c, err)})
			return false
		}
		decoded = true
	}
	ctx.Request.Header.Del(fasthttp.HeaderContentEncoding)
	if decoded {
		bodiesDecoded.Inc()
		ctx.Request.SetBody(body)
	}
	return true
}

var errDecodedTooLarge = errors.New("decoded body too large")

// readLimited reads r whole, failing once it yields more than limit bytes
// (limit ≤ 0: fasthttp's default, 4 MiB), so that a small compressed body
// cannot expand without bound.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = fasthttp.DefaultMaxRequestBodySize
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, errDecodedTooLarge
	}
	return b, nil
}
