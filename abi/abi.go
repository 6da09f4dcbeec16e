// Package abi is the gateway's policy ABI, version 1 (revision 1.2), and the guest SDK for
// policies written in standard Go (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared).
//
// The contract itself is language-neutral and lives in ABI.md beside this
// file. This package holds the numbers that contract fixes (status codes,
// stages, flag bits, feature bits, import and export names with their
// signatures), which the host in package wasm imports so that host and guest
// cannot drift apart, and a small SDK ([Call], [Serve], [Configure]) that turns
// the pull-getters and push-setters into Go methods over reused buffers.
//
// # Notes
//
// The SDK imports nothing from the gateway's host packages and nothing that
// uses reflection. Host-testable logic lives in files without build tags; the
// //go:wasmimport and //go:wasmexport glue lives in files tagged wasip1, so
// `go build ./...` on any platform still compiles and tests the rest.
package abi

// Version is the ABI major version this package speaks. A module announces the
// version it was built for through the [ExportABIVersion] export; the host
// refuses modules whose version it does not speak.
const Version = 1

// Revision is the ABI's minor revision: additions to version 1 that old
// guests never notice and new guests detect through feature bits. 1.1 added
// the route's tier ([FeatureTier]) and report_removed ([FeatureRemoved]);
// 1.2 added set_trigger ([FeatureTrigger]).
const Revision = 2

// ImportModule is the Wasm import module name of every host function.
const ImportModule = "gateway"

// Guest export names.
const (
	// ExportABIVersion is the ABI marker: () -> i32, returning [Version].
	ExportABIVersion = "gateway_abi_version"
	// ExportConfigure is the optional self-check: () -> i32 status. The guest
	// pulls its JSON config with the config import and accepts or refuses it.
	ExportConfigure = "gateway_configure"
	// ExportRequest, ExportRoute and ExportResponse implement the stages:
	// () -> i32 status. A module implements a stage by exporting its function.
	ExportRequest  = "gateway_on_request"
	ExportRoute    = "gateway_on_route"
	ExportResponse = "gateway_on_response"
	// ExportMemory is the guest's linear memory, required.
	ExportMemory = "memory"
)

// Status is the fixed set of integers that host functions return (negative
// values) and that guest stage exports return (0 or [StatusError]).
// Non-negative host results are lengths, counts or values.
type Status int32

// Status codes. They are part of the ABI: never renumber them.
const (
	// StatusOK: success.
	StatusOK Status = 0
	// StatusError: returned by a guest export that failed; the guest may have
	// called set_error with a reason first.
	StatusError Status = 1
	// StatusNotFound: the requested item does not exist (a header that is
	// absent, a response body outside the response stage).
	StatusNotFound Status = -1
	// StatusOutOfRange: an index is outside [0, count).
	StatusOutOfRange Status = -2
	// StatusBadPointer: a (ptr, len) pair does not lie inside the guest's
	// memory. The call is poisoned: its output is discarded.
	StatusBadPointer Status = -3
	// StatusInvalid: an argument is invalid (overlapping edit, range not on a
	// UTF-8 boundary, invalid UTF-8, unknown role, control bytes in a header
	// value, status code outside 200..599, too many tags).
	StatusInvalid Status = -4
	// StatusLimit: the per-call cap on bytes read or written is exceeded. The
	// call is poisoned: its output is discarded.
	StatusLimit Status = -5
	// StatusWrongStage: the function is not available in the current stage.
	StatusWrongStage Status = -6
)

// String names a status for logs and error messages.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusError:
		return "error"
	case StatusNotFound:
		return "not_found"
	case StatusOutOfRange:
		return "out_of_range"
	case StatusBadPointer:
		return "bad_pointer"
	case StatusInvalid:
		return "invalid"
	case StatusLimit:
		return "limit"
	case StatusWrongStage:
		return "wrong_stage"
	}
	return "unknown"
}

// Stage identifies where in the request pipeline a policy runs.
type Stage int32

// Stages. StageConfigure is the self-check that runs once per instance.
const (
	StageConfigure Stage = 0
	StageRequest   Stage = 1
	StageRoute     Stage = 2
	StageResponse  Stage = 3
)

// NumStages bounds arrays indexed by Stage.
const NumStages = 4

// String returns the stage name used in gateway.toml.
func (s Stage) String() string {
	switch s {
	case StageConfigure:
		return "configure"
	case StageRequest:
		return "request"
	case StageRoute:
		return "route"
	case StageResponse:
		return "response"
	}
	return "unknown"
}

// Export returns the name of the guest export that implements s.
func (s Stage) Export() string {
	switch s {
	case StageConfigure:
		return ExportConfigure
	case StageRequest:
		return ExportRequest
	case StageRoute:
		return ExportRoute
	case StageResponse:
		return ExportResponse
	}
	return ""
}

// ParseStage maps a gateway.toml stage name to a Stage.
func ParseStage(name string) (Stage, bool) {
	switch name {
	case "request":
		return StageRequest, true
	case "route":
		return StageRoute, true
	case "response":
		return StageResponse, true
	}
	return 0, false
}

// Request flags, returned by the flags import (i64 bitmask).
const (
	FlagStream       uint64 = 1 << 0 // "stream": true
	FlagTools        uint64 = 1 << 1 // "tools" holds a definition
	FlagImages       uint64 = 1 << 2 // some message carries an image_url part
	FlagJSON         uint64 = 1 << 3 // response_format asks for JSON
	FlagSmartRouting uint64 = 1 << 4 // X-Gateway-Smart-Routing: 1
)

// Message flags, returned by the message_flags import (i64 bitmask).
const (
	MsgParts      uint64 = 1 << 0 // content was an array of parts
	MsgImage      uint64 = 1 << 1 // content has an image part
	MsgToolCalls  uint64 = 1 << 2 // an assistant message with tool_calls
	MsgToolResult uint64 = 1 << 3 // a tool result (role "tool" or legacy "function")
)

// Feature bits, returned by the features import. A guest tests a bit before
// using the capability it names; bits are only ever added.
const (
	FeatureEdits         uint64 = 1 << 0 // replace_text is applied
	FeatureInsert        uint64 = 1 << 1 // insert_message is applied
	FeatureAmbiguous     uint64 = 1 << 2 // set_route may answer ambiguous
	FeatureRespond       uint64 = 1 << 3 // respond short-circuits the request
	FeatureResponseStage uint64 = 1 << 4 // the response stage runs
	FeatureVerdict       uint64 = 1 << 5 // set_verdict is honoured
	FeatureHeaders       uint64 = 1 << 6 // request headers are visible
	FeatureTier          uint64 = 1 << 7 // v1.1: set_route carries a tier (RouteTierShift)
	FeatureRemoved       uint64 = 1 << 8 // v1.1: report_removed is counted
	FeatureTrigger       uint64 = 1 << 9 // v1.2: set_trigger is honoured
)

// FeaturesV1 is every feature an ABI v1 host may announce (revision 1.2).
const FeaturesV1 = FeatureEdits | FeatureInsert | FeatureAmbiguous | FeatureRespond |
	FeatureResponseStage | FeatureVerdict | FeatureHeaders | FeatureTier | FeatureRemoved | FeatureTrigger

// RouteAmbiguous is the flags bit of set_route that hands the decision to the
// second-phase classifier; the model then is the fallback.
const RouteAmbiguous int32 = 1 << 0

// RouteTierShift and RouteTierMask place a [Tier] in set_route's flags
// (bits 4-7, ABI v1.1, [FeatureTier]): flags = RouteTier(t) | RouteAmbiguous.
const (
	RouteTierShift       = 4
	RouteTierMask  int32 = 0xF << RouteTierShift
)

// RouteTier returns the set_route flag bits that carry t.
func RouteTier(t Tier) int32 { return int32(t) << RouteTierShift & RouteTierMask }

// Tier is the routing tier a route decision's model belongs to. The gateway
// uses it to price routing savings against the strong tier, to pick the
// model a cascade escalates to, and in logs. The numbers are part of the ABI.
type Tier int32

// Tiers, cheapest first.
const (
	TierNone      Tier = 0 // the decision names a model only
	TierLocal     Tier = 1 // a local model (Ollama)
	TierFast      Tier = 2 // a small hosted model
	TierStrong    Tier = 3 // the default hosted model: the baseline of routing savings
	TierReasoning Tier = 4 // a reasoning model
	numTiers           = 5
)

var tierNames = [numTiers]string{"", "local", "fast", "strong", "reasoning"}

// String returns the tier's name as gateway.toml's routing.tiers spells it
// ("" for TierNone and unknown values).
func (t Tier) String() string {
	if t < 0 || t >= numTiers {
		return ""
	}
	return tierNames[t]
}

// ParseTier maps a tier name to a Tier.
func ParseTier(name string) (Tier, bool) {
	for i := TierLocal; i < numTiers; i++ {
		if tierNames[i] == name {
			return i, true
		}
	}
	return TierNone, false
}

// Removal says what kind of text a request policy removed, so that the
// gateway credits the saving to the right technique (report_removed, ABI
// v1.1, [FeatureRemoved]). The numbers are part of the ABI.
type Removal int32

// Removal kinds.
const (
	// RemovedBoilerplate: text that tells the model nothing (IDE
	// boilerplate, repeated instructions, empty sections), credited as
	// "ide_boilerplate".
	RemovedBoilerplate Removal = 0
	// RemovedDuplicate: content the conversation already holds, replaced by
	// a reference (a file sent twice), credited as "file_dedup".
	RemovedDuplicate Removal = 1
	// NumRemovals bounds arrays indexed by Removal.
	NumRemovals = 2
)

// String names the kind for logs.
func (r Removal) String() string {
	switch r {
	case RemovedBoilerplate:
		return "boilerplate"
	case RemovedDuplicate:
		return "duplicate"
	}
	return "unknown"
}

// VerdictEscalate is the flags bit of set_verdict that rejects a response.
const VerdictEscalate int32 = 1 << 0

// Limits the host enforces on setter arguments. They are part of the ABI.
const (
	MaxModelLen   = 256  // set_route model
	MaxReasonLen  = 256  // set_route / set_verdict reason
	MaxTagKeyLen  = 64   // add_tag key
	MaxTagValLen  = 256  // add_tag value
	MaxTagsPerRun = 64   // add_tag calls per request, over all policies
	MaxErrorLen   = 1024 // set_error message; longer messages are truncated
)

// ValueType is a Wasm value type in an import signature.
type ValueType byte

// Value types used by the ABI: only integers cross the boundary.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

// Func describes one host import: its name under [ImportModule] and its
// signature.
type Func struct {
	Name    string
	Params  []ValueType
	Results []ValueType
}

// Import names. Each is documented, with its memory diagram, in ABI.md.
const (
	FnFeatures      = "features"
	FnFlags         = "flags"
	FnConfig        = "config"
	FnModel         = "model"
	FnProject       = "project"
	FnSkill         = "skill"
	FnBody          = "body"
	FnResponse      = "response"
	FnMessageCount  = "message_count"
	FnMessageRole   = "message_role"
	FnMessageText   = "message_text"
	FnMessageFlags  = "message_flags"
	FnToolCount     = "tool_count"
	FnToolName      = "tool_name"
	FnHeaderCount   = "header_count"
	FnHeaderName    = "header_name"
	FnHeaderValue   = "header_value"
	FnHeader        = "header"
	FnSetRoute      = "set_route"
	FnReplaceText   = "replace_text"
	FnInsertMessage = "insert_message"
	FnAddTag        = "add_tag"
	FnRespond       = "respond"
	FnSetVerdict    = "set_verdict"
	FnSetError      = "set_error"
	FnReportRemoved = "report_removed" // v1.1
	FnSetTrigger    = "set_trigger"    // v1.2
)

var (
	none     = []ValueType{}
	buf      = []ValueType{I32, I32}                // (buf_ptr, buf_cap)
	idxBuf   = []ValueType{I32, I32, I32}           // (index, buf_ptr, buf_cap)
	twoBufs  = []ValueType{I32, I32, I32, I32}      // (a_ptr, a_len, b_ptr, b_len)
	flagBufs = []ValueType{I32, I32, I32, I32, I32} // (flags, a_ptr, a_len, b_ptr, b_len)
)

func fn(name string, params []ValueType, results ...ValueType) Func {
	return Func{Name: name, Params: params, Results: results}
}

// HostFuncs lists every host function of ABI v1 (revision 1.2), in the order
// of ABI.md.
var HostFuncs = []Func{
	fn(FnFeatures, none, I64),
	fn(FnFlags, none, I64),
	fn(FnConfig, buf, I32),
	fn(FnModel, buf, I32),
	fn(FnProject, buf, I32),
	fn(FnSkill, buf, I32),
	fn(FnBody, buf, I32),
	fn(FnResponse, buf, I32),
	fn(FnMessageCount, none, I32),
	fn(FnMessageRole, idxBuf, I32),
	fn(FnMessageText, idxBuf, I32),
	fn(FnMessageFlags, []ValueType{I32}, I64),
	fn(FnToolCount, none, I32),
	fn(FnToolName, idxBuf, I32),
	fn(FnHeaderCount, none, I32),
	fn(FnHeaderName, idxBuf, I32),
	fn(FnHeaderValue, idxBuf, I32),
	fn(FnHeader, twoBufs, I32),
	fn(FnSetRoute, flagBufs, I32),
	fn(FnReplaceText, []ValueType{I32, I32, I32, I32, I32}, I32),
	fn(FnInsertMessage, flagBufs, I32),
	fn(FnAddTag, twoBufs, I32),
	fn(FnRespond, []ValueType{I32, I32, I32}, I32),
	fn(FnSetVerdict, []ValueType{I32, I32, I32, I32}, I32),
	fn(FnSetError, buf, I32),
	fn(FnReportRemoved, []ValueType{I32, I32}, I32),
	fn(FnSetTrigger, buf, I32),
}

// WASI lists the wasi_snapshot_preview1 functions a module may import. They
// are what the Go and TinyGo runtimes need to start (the fd_* ones come with
// Go's syscall package, which embed, time and io/fs pull in); none of them
// grants access to files, sockets or the environment: the host configures no
// preopened directory, no environment and no arguments, so only the three
// stdio descriptors exist, stdin is empty and output is discarded.
// path_open, fd_read, sock_* and the rest are refused at load.
var WASI = []string{
	"args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
	"clock_res_get", "clock_time_get", "random_get", "sched_yield",
	"poll_oneoff", "proc_exit", "fd_write", "fd_close", "fd_fdstat_get",
	"fd_fdstat_set_flags", "fd_prestat_get", "fd_prestat_dir_name",
}

// WASIModule is the import module name of [WASI].
const WASIModule = "wasi_snapshot_preview1"
