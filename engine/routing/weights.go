package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/policies/router/routemodel"
)

// MaxWeightsBytes bounds an uploaded weights file (2^20 weights).
const MaxWeightsBytes = 4<<20 + 1<<16

// Where the router's weights come from.
const (
	FromUpload  = "upload"  // PUT /admin/routing/weights, kept under data_dir
	FromConfig  = "config"  // [routing] weights
	FromBuiltin = "builtin" // embedded in the router policy
)

// UploadedWeightsPath is where an upload is kept under dataDir ("" without
// a data directory: uploads are refused).
func UploadedWeightsPath(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "routing", "weights.bin")
}

// LoadWeights returns the weights that replace the embedded ones and where
// they come from: an upload under dataDir, else the configured file, else
// none (nil, FromBuiltin).
func LoadWeights(dataDir, configured string) (b []byte, source string, err error) {
	if p := UploadedWeightsPath(dataDir); p != "" {
		b, err := os.ReadFile(p)
		if err == nil {
			return b, FromUpload, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("uploaded router weights: %w", err)
		}
	}
	if configured != "" {
		b, err := os.ReadFile(configured)
		if err != nil {
			return nil, "", fmt.Errorf("routing.weights: %w", err)
		}
		return b, FromConfig, nil
	}
	return nil, FromBuiltin, nil
}

// WeightsInfo describes a weights file for the admin API (the embedded
// one when b is nil).
func WeightsInfo(b []byte, source string) map[string]any {
	if b == nil {
		b = policies.RouterWeights()
	}
	sum := sha256.Sum256(b)
	out := map[string]any{"source": source, "sha256": hex.EncodeToString(sum[:]), "bytes": len(b)}
	if m, err := routemodel.Decode(b); err == nil {
		out["bits"], out["default_threshold"], out["note"] = m.Bits, m.Threshold, m.Note
	}
	return out
}

// SaveUpload validates b and writes it, atomically, where LoadWeights finds
// an upload. It returns the previous upload (nil when there was none) so a
// caller whose router then refuses the weights can put it back with
// RestoreUpload.
func SaveUpload(dataDir string, b []byte) (previous []byte, err error) {
	if len(b) > MaxWeightsBytes {
		return nil, ErrTooLarge
	}
	if _, err := routemodel.Decode(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	path := UploadedWeightsPath(dataDir)
	if path == "" {
		return nil, ErrNoDataDir
	}
	previous, err = os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return previous, writeFileAtomic(path, b)
}

// RestoreUpload puts back what SaveUpload replaced: previous, or no upload.
func RestoreUpload(dataDir string, previous []byte) error {
	path := UploadedWeightsPath(dataDir)
	if path == "" {
		return nil
	}
	if previous != nil {
		return writeFileAtomic(path, previous)
	}
	return RemoveUpload(dataDir)
}

// RemoveUpload deletes the upload, if any.
func RemoveUpload(dataDir string) error {
	if p := UploadedWeightsPath(dataDir); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Errors of SaveUpload.
var (
	ErrTooLarge  = errors.New("router weights larger than 4 MiB")
	ErrNoDataDir = errors.New("router weights uploads need data_dir")
	ErrInvalid   = errors.New("invalid router weights")
)

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, time.Now().UnixNano())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
