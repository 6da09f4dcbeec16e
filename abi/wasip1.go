//go:build wasip1

package abi

import "unsafe"

// The //go:wasmimport declarations of ABI v1 (revision 1.2). The linker keeps
// only the imports a module calls, so a module that never reports removals
// does not import report_removed and loads on v1.0 hosts too (and one that
// declares no trigger does not import set_trigger). Pointers are guest addresses;
// every buffer passed to the host is owned by the guest (see ABI.md).

//go:wasmimport gateway features
func hostFeatures() uint64

//go:wasmimport gateway flags
func hostFlags() uint64

//go:wasmimport gateway config
func hostConfig(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway model
func hostModel(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway project
func hostProject(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway skill
func hostSkill(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway body
func hostBody(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway response
func hostResponse(buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway message_count
func hostMessageCount() int32

//go:wasmimport gateway message_role
func hostMessageRole(i int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway message_text
func hostMessageText(i int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway message_flags
func hostMessageFlags(i int32) int64

//go:wasmimport gateway tool_count
func hostToolCount() int32

//go:wasmimport gateway tool_name
func hostToolName(i int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway header_count
func hostHeaderCount() int32

//go:wasmimport gateway header_name
func hostHeaderName(i int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway header_value
func hostHeaderValue(i int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway header
func hostHeader(name unsafe.Pointer, nameLen int32, buf unsafe.Pointer, cap int32) int32

//go:wasmimport gateway set_route
func hostSetRoute(flags int32, model unsafe.Pointer, modelLen int32, reason unsafe.Pointer, reasonLen int32) int32

//go:wasmimport gateway replace_text
func hostReplaceText(i, start, end int32, text unsafe.Pointer, textLen int32) int32

//go:wasmimport gateway insert_message
func hostInsertMessage(at int32, role unsafe.Pointer, roleLen int32, text unsafe.Pointer, textLen int32) int32

//go:wasmimport gateway add_tag
func hostAddTag(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32) int32

//go:wasmimport gateway respond
func hostRespond(status int32, body unsafe.Pointer, bodyLen int32) int32

//go:wasmimport gateway set_verdict
func hostSetVerdict(flags, score int32, reason unsafe.Pointer, reasonLen int32) int32

//go:wasmimport gateway set_error
func hostSetError(msg unsafe.Pointer, msgLen int32) int32

//go:wasmimport gateway report_removed
func hostReportRemoved(kind, n int32) int32

//go:wasmimport gateway set_trigger
func hostSetTrigger(spec unsafe.Pointer, specLen int32) int32

// ptr returns the guest address of b's first byte (nil for an empty slice:
// the host never dereferences a zero-length range).
func ptr(b []byte) unsafe.Pointer {
	if cap(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

type wasmImports struct{}

var _ Imports = wasmImports{}

func (wasmImports) Features() uint64           { return hostFeatures() }
func (wasmImports) Flags() uint64              { return hostFlags() }
func (wasmImports) Config(b []byte) int32      { return hostConfig(ptr(b), int32(len(b))) }
func (wasmImports) Model(b []byte) int32       { return hostModel(ptr(b), int32(len(b))) }
func (wasmImports) Project(b []byte) int32     { return hostProject(ptr(b), int32(len(b))) }
func (wasmImports) Skill(b []byte) int32       { return hostSkill(ptr(b), int32(len(b))) }
func (wasmImports) Body(b []byte) int32        { return hostBody(ptr(b), int32(len(b))) }
func (wasmImports) Response(b []byte) int32    { return hostResponse(ptr(b), int32(len(b))) }
func (wasmImports) MessageCount() int32        { return hostMessageCount() }
func (wasmImports) MessageFlags(i int32) int64 { return hostMessageFlags(i) }
func (wasmImports) ToolCount() int32           { return hostToolCount() }
func (wasmImports) HeaderCount() int32         { return hostHeaderCount() }

func (wasmImports) MessageRole(i int32, b []byte) int32 {
	return hostMessageRole(i, ptr(b), int32(len(b)))
}

func (wasmImports) MessageText(i int32, b []byte) int32 {
	return hostMessageText(i, ptr(b), int32(len(b)))
}

func (wasmImports) ToolName(i int32, b []byte) int32 {
	return hostToolName(i, ptr(b), int32(len(b)))
}

func (wasmImports) HeaderName(i int32, b []byte) int32 {
	return hostHeaderName(i, ptr(b), int32(len(b)))
}

func (wasmImports) HeaderValue(i int32, b []byte) int32 {
	return hostHeaderValue(i, ptr(b), int32(len(b)))
}

func (wasmImports) Header(name, b []byte) int32 {
	return hostHeader(ptr(name), int32(len(name)), ptr(b), int32(len(b)))
}

func (wasmImports) SetRoute(flags int32, model, reason []byte) int32 {
	return hostSetRoute(flags, ptr(model), int32(len(model)), ptr(reason), int32(len(reason)))
}

func (wasmImports) ReplaceText(i, start, end int32, text []byte) int32 {
	return hostReplaceText(i, start, end, ptr(text), int32(len(text)))
}

func (wasmImports) InsertMessage(at int32, role, text []byte) int32 {
	return hostInsertMessage(at, ptr(role), int32(len(role)), ptr(text), int32(len(text)))
}

func (wasmImports) AddTag(key, value []byte) int32 {
	return hostAddTag(ptr(key), int32(len(key)), ptr(value), int32(len(value)))
}

func (wasmImports) Respond(status int32, body []byte) int32 {
	return hostRespond(status, ptr(body), int32(len(body)))
}

func (wasmImports) SetVerdict(flags, score int32, reason []byte) int32 {
	return hostSetVerdict(flags, score, ptr(reason), int32(len(reason)))
}

func (wasmImports) SetError(msg []byte) int32 { return hostSetError(ptr(msg), int32(len(msg))) }

func (wasmImports) ReportRemoved(kind, n int32) int32 { return hostReportRemoved(kind, n) }

func (wasmImports) SetTrigger(spec []byte) int32 { return hostSetTrigger(ptr(spec), int32(len(spec))) }

// call is the module's one Call: a Wasm instance runs one export at a time.
var call = NewCall(wasmImports{})

// abiVersion is the ABI marker every module built with this SDK exports.
//
//go:wasmexport gateway_abi_version
func abiVersion() int32 { return Version }

// Serve runs handler for the current stage call. A stage export is one line:
//
//	//go:wasmexport gateway_on_route
//	func onRoute() int32 { return abi.Serve(route) }
func Serve(handler func(*Call) Status) int32 { return call.Run(handler) }

// Configure runs the self-check: parse is given the policy's JSON config
// (empty when none) and returns an error message, or "" to accept it.
//
//	//go:wasmexport gateway_configure
//	func configure() int32 { return abi.Configure(parseConfig) }
func Configure(parse func(config []byte) string) int32 { return call.Run(ConfigureHandler(parse)) }
