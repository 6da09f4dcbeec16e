package cost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// AdminKey is the admin key the harness gives the gateways it starts.
const AdminKey = "costbench-admin-key"

// Gateway is a gateway process started by the harness on 127.0.0.1, with
// its default configuration pointed at the fakes.
type Gateway struct {
	URL string
	Log string
	cmd *exec.Cmd
}

// GatewayOptions are a run's departures from the default configuration.
type GatewayOptions struct {
	// Name labels the config and log files.
	Name string
	// Env adds environment variables (the seed's flags).
	Env []string
	// TOML is appended to the generated gateway.toml.
	TOML string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartGateway starts bin with a gateway.toml in dir that sets only the
// listen address and the data directory (plus opt.TOML), and an environment
// that holds only PATH, HOME, the four providers' keys and base URLs
// (the fakes), the admin key and opt.Env: every other setting is the default.
func StartGateway(bin, dir string, up *Upstreams, opt GatewayOptions) (*Gateway, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := filepath.Join(dir, "gateway-"+opt.Name+".toml")
	toml := "listen = " + strconv.Quote(addr) + "\ndata_dir = " + strconv.Quote(filepath.Join(dir, "data")) + "\n" + opt.TOML
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "gateway-"+opt.Name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"OPENAI_API_KEY=sk-costbench", "OPENAI_BASE_URL=" + up.OpenAIURL,
		"ANTHROPIC_API_KEY=sk-ant-costbench", "ANTHROPIC_BASE_URL=" + up.AnthropicURL,
		"GEMINI_API_KEY=costbench-gemini", "GEMINI_BASE_URL=" + up.GeminiURL,
		"DEEPSEEK_API_KEY=sk-costbench-deepseek", "DEEPSEEK_BASE_URL=" + up.DeepSeekURL,
		"GATEWAY_ADMIN_KEY=" + AdminKey,
	}, opt.Env...)
	if up.ClockFile != "" {
		cmd.Env = append(cmd.Env, "GATEWAY_SIM_CLOCK_FILE="+up.ClockFile)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	logf.Close()
	g := &Gateway{URL: "http://" + addr, Log: logPath, cmd: cmd}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				go func() { <-exited }()
				return g, nil
			}
		}
		select {
		case err := <-exited:
			tail, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("gateway exited (%v): %s", err, clip(string(tail)))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return nil, errors.New("gateway did not become healthy within 60s; log: " + logPath)
		}
	}
}

// Stop asks the gateway to drain and exit (SIGTERM), killing it after 10s.
func (g *Gateway) Stop() {
	if g == nil || g.cmd.Process == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	for range 100 {
		if g.cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = g.cmd.Process.Kill()
}

func (g *Gateway) get(path string, v any) error {
	req, _ := http.NewRequest("GET", g.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d: %s", path, resp.StatusCode, clip(string(b)))
	}
	return json.Unmarshal(b, v)
}

// UsageTotals is the "total" object of GET /admin/usage.
type UsageTotals struct {
	Requests         int64              `json:"requests"`
	Errors           int64              `json:"errors"`
	PromptTokens     int64              `json:"prompt_tokens"`
	CachedTokens     int64              `json:"cached_tokens"`
	CompletionTokens int64              `json:"completion_tokens"`
	CostUSD          float64            `json:"cost_usd"`
	SavedUSD         map[string]float64 `json:"saved_usd"`
}

// Usage reads GET /admin/usage. Repaired reports that the body was not valid
// JSON and had to be repaired first (see RepairUsageJSON).
func (g *Gateway) Usage() (u UsageTotals, repaired bool, err error) {
	var raw json.RawMessage
	if err := g.get("/admin/usage", &raw); err != nil {
		// Not JSON: read it again as bytes and repair it.
		b, err2 := g.getBytes("/admin/usage")
		if err2 != nil {
			return u, false, err2
		}
		raw, repaired = RepairUsageJSON(b), true
	}
	var doc struct {
		Total UsageTotals `json:"total"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return u, repaired, fmt.Errorf("GET /admin/usage: %w", err)
	}
	return doc.Total, repaired, nil
}

// SettledUsage reads GET /admin/usage until two reads 300 ms apart agree
// (at most 5 s): the gateway accounts some requests on a background
// goroutine after their answer was sent (engine/savings.go's accountant),
// so a read right after the last answer can miss the last few.
func (g *Gateway) SettledUsage() (UsageTotals, bool, error) {
	u, repaired, err := g.Usage()
	for i := 0; err == nil && i < 16; i++ {
		time.Sleep(300 * time.Millisecond)
		var v UsageTotals
		if v, repaired, err = g.Usage(); err != nil {
			break
		}
		same := v.Requests == u.Requests && v.CostUSD == u.CostUSD && v.SavedUSD["total"] == u.SavedUSD["total"]
		u = v
		if same {
			break
		}
	}
	return u, repaired, err
}

// RepairUsageJSON undoes a known defect of GET /admin/usage at commit
// 2ed9227 (engine.Usage.AppendJSON slices the whole buffer instead of the
// total row's leading comma): the opening brace is missing and the total
// object starts with a comma. Valid JSON is returned unchanged.
func RepairUsageJSON(b []byte) []byte {
	if json.Valid(b) {
		return b
	}
	out := append([]byte(nil), b...)
	if len(out) > 0 && out[0] != '{' {
		out = append([]byte{'{'}, out...)
	}
	return bytes.Replace(out, []byte(`"total":{,`), []byte(`"total":{`), 1)
}

func (g *Gateway) getBytes(path string) ([]byte, error) {
	req, _ := http.NewRequest("GET", g.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// ModelPrice is one model's pricing in GET /v1/models.
type ModelPrice struct {
	ID      string `json:"id"`
	Pricing struct {
		Input  float64 `json:"input_per_million"`
		Output float64 `json:"output_per_million"`
		Cached float64 `json:"cached_input_per_million"`
	} `json:"pricing"`
}

// Models reads GET /v1/models.
func (g *Gateway) Models() ([]ModelPrice, error) {
	var doc struct {
		Data []ModelPrice `json:"data"`
	}
	err := g.get("/v1/models", &doc)
	return doc.Data, err
}
