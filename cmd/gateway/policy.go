package main

// `gateway policy`: scaffold a policy, and test a module before uploading it.
//
//	gateway policy new NAME [-stage request|route] [-lang go|wat] [-dir DIR] [-abi PATH|embedded]
//	gateway policy check FILE.wasm [-config JSON] [-stages request,route]
//	gateway policy run FILE.wasm -stage route [-config JSON] [-header "K: V"]...
//	    [-project P] [-response FILE] [-n N] < request.json
//
// FILE may also be builtin:NAME. check loads the module exactly as an upload
// would (compile, import allowlist, ABI marker, exports, self-check of the
// config) and prints what it found; run also feeds it an OpenAI chat
// completion request from stdin and prints the decision, the edits and the
// time taken.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/policyinput"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

const policyUsage = `usage:
  gateway policy new NAME [-stage request|route] [-lang go|wat] [-dir DIR] [-abi PATH|embedded]
  gateway policy check FILE.wasm [-config JSON] [-stages request,route,response]
  gateway policy run FILE.wasm -stage STAGE [-config JSON] [-header "Name: value"]...
                     [-project NAME] [-response FILE] [-n RUNS] < request.json
FILE may be builtin:NAME (%s).
`

// policyMain implements `gateway policy …`; args excludes "policy". It
// returns the exit code: 0 success, 1 the module was refused or failed, 2
// usage.
func policyMain(args []string) int {
	return policyCommand(args, os.Stdin, os.Stdout, os.Stderr)
}

type policyHeaders []string

func (h *policyHeaders) String() string     { return strings.Join(*h, ", ") }
func (h *policyHeaders) Set(v string) error { *h = append(*h, v); return nil }

func policyCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "new" {
		return policyNew(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "run") {
		fmt.Fprintf(stderr, policyUsage, strings.Join(wasm.BuiltinNames(), ", "))
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("gateway policy "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "JSON config handed to the module's self-check")
	stages := fs.String("stages", "", "check: stages to bind, comma-separated (default: what the module exports)")
	stage := fs.String("stage", "route", "run: the stage to run (request, route or response)")
	project := fs.String("project", "", "run: the request's project")
	response := fs.String("response", "", "run: file holding the upstream response (response stage)")
	runs := fs.Int("n", 1, "run: run the policy N times and report the median time")
	timeout := fs.Duration("timeout", 0, "per-call deadline (default: the gateway's, 100ms)")
	memory := fs.Int("memory-mb", 0, "memory cap in MiB (default: the gateway's default)")
	compile := fs.Duration("compile-timeout", 0, "compilation budget (default: the gateway's, [policy_limits] compile_timeout = 30s)")
	initTimeout := fs.Duration("init-timeout", 0, "bound on instantiating the module and its self-check (default: the gateway's, 2s)")
	var headers policyHeaders
	fs.Var(&headers, "header", `run: a request header "Name: value" (repeatable; policies see X-Gateway-* ones)`)

	// Accept the file before, between or after the flags.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 || *runs < 1 {
		fmt.Fprintf(stderr, policyUsage, strings.Join(wasm.BuiltinNames(), ", "))
		return 2
	}
	file := files[0]

	cfg := wasm.PolicyConfig{Name: "cli", Module: file, Config: *config, Timeout: *timeout, MemoryMB: *memory, Fail: "closed"}
	if *stages != "" {
		cfg.Stages = strings.Split(*stages, ",")
	}
	var st abi.Stage
	if cmd == "run" {
		var ok bool
		if st, ok = abi.ParseStage(*stage); !ok {
			fmt.Fprintf(stderr, "gateway policy run: unknown stage %q (want request, route or response)\n", *stage)
			return 2
		}
		cfg.Stages = []string{*stage}
	}

	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CompileTimeout: *compile, InitTimeout: *initTimeout})
	if err != nil {
		fmt.Fprintln(stderr, "gateway policy:", err)
		return 1
	}
	defer h.Close(ctx)
	loadStart := time.Now()
	if err := h.Configure([]wasm.PolicyConfig{cfg}); err != nil {
		fmt.Fprintf(stdout, "REFUSED %s: %v\n", file, policyReason(err))
		return 1
	}
	load := time.Since(loadStart)
	info, _ := h.Get("cli")
	fmt.Fprintf(stdout, "module: %s\ndigest: sha256:%s\nstages: %s\nsandboxed: %v\nload: %v (compile, instantiate, self-check)\n",
		file, info.Digest, strings.Join(info.Stages, ", "), info.Sandboxed, load.Round(time.Microsecond))
	for _, w := range info.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if cmd == "check" {
		fmt.Fprintln(stdout, "OK")
		return 0
	}

	body, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		fmt.Fprintln(stderr, "gateway policy run: read request:", err)
		return 1
	}
	// The module sees what the gateway would show it: the server's decode
	// of the body and its X-Gateway-* headers.
	var req providers.Request
	if err := req.Decode(body); err != nil {
		fmt.Fprintln(stderr, "gateway policy run: the gateway would refuse the request:", err)
		return 1
	}
	var hdr fasthttp.RequestHeader
	for _, hv := range headers {
		name, value, ok := strings.Cut(hv, ":")
		if !ok {
			fmt.Fprintf(stderr, "gateway policy run: -header %q is not \"Name: value\"\n", hv)
			return 2
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	var in wasm.Input
	policyinput.Fill(&in, &req, *project, &hdr)
	if *response != "" {
		if in.Response, err = os.ReadFile(*response); err != nil {
			fmt.Fprintln(stderr, "gateway policy run:", err)
			return 1
		}
	}

	var out wasm.Output
	times := make([]time.Duration, 0, *runs)
	var runErr error
	for i := 0; i < *runs; i++ {
		out.Reset()
		start := time.Now()
		runErr = h.Run(ctx, st, &in, &out)
		times = append(times, time.Since(start))
		if runErr != nil {
			break
		}
	}
	fmt.Fprintf(stdout, "stage: %s\n", st)
	if runErr != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", runErr)
		return 1
	}
	decision := out.AppendText(nil)
	if len(decision) == 0 {
		decision = []byte("no decision, no edits\n")
	}
	stdout.Write(decision)
	first := times[0]
	slices.Sort(times)
	fmt.Fprintf(stdout, "time: %v", first.Round(100*time.Nanosecond))
	if len(times) > 1 {
		fmt.Fprintf(stdout, " first, %v median, %v min of %d runs", times[len(times)/2].Round(100*time.Nanosecond), times[0].Round(100*time.Nanosecond), len(times))
	}
	fmt.Fprintln(stdout)
	return 0
}

// policyReason strips the sentinel and the CLI's own policy name from a
// refusal: the operator named the file, not "cli".
func policyReason(err error) string {
	s := strings.Replace(err.Error(), `policy "cli": `, "", 1)
	for _, sentinel := range []error{wasm.ErrInvalidModule, wasm.ErrInvalidConfig} {
		if errors.Is(err, sentinel) {
			s = strings.Replace(s, sentinel.Error()+": ", "", 1)
		}
	}
	return s
}
