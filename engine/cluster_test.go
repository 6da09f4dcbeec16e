package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestRedisClusterSharedTier runs two replicas on a real 3-master Redis
// Cluster: the response cache's shared tier, the global rate limit, policy
// fan-out and a purge that reaches every master.
func TestRedisClusterSharedTier(t *testing.T) {
	t.Parallel()
	rc := redistest.StartCluster(t, 3)
	env := map[string]string{"REDIS_URL": rc.URL(), "GATEWAY_ADMIN_KEY": adminKey}
	// Project "lim" allows 10 requests a minute; the default project's
	// limit is out of the way.
	// Redis timeouts of seconds: the test asserts that every cache write
	// lands, and under a loaded -race run a round trip can exceed the
	// default 50 ms, after which the tier drops the write (best effort,
	// by design) and backs off.
	conf := "data_dir = \"%s\"\n[cache]\nredis_timeout = \"2s\"\n" +
		"[reliability]\nrate_limit = true\nrate_limit_rpm = 100000\nrate_limit_redis_timeout = \"2s\"\n" +
		"[[projects]]\nid = \"lim\"\nname = \"lim\"\nrpm = 10\n[[keys]]\nkey = \"lim-key\"\nproject = \"lim\"\n"
	g1 := startGateway(t, fmt.Sprintf(conf, t.TempDir()), env)
	g2 := startGateway(t, fmt.Sprintf(conf, t.TempDir()), env)
	cc := rc.Client()
	defer cc.Close()
	ctx := context.Background()

	// The global limit: 10 a minute for the project across both replicas
	// (each on its own would allow 10).
	ok, limited := 0, 0
	for i := range 30 {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		status, h, body := g.post(t, "/v1/chat/completions", fmt.Sprintf(`{"model":"mock/echo","messages":[{"role":"user","content":"cluster %d"}]}`, i),
			map[string]string{"Authorization": "Bearer lim-key"})
		switch status {
		case 200:
			ok++
			if h.Get("X-Gateway-Cache") != "miss" {
				t.Fatalf("first request %d: cache %q", i, h.Get("X-Gateway-Cache"))
			}
		case 429:
			limited++
		default:
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	if ok < 8 || ok > 12 || ok+limited != 30 {
		t.Fatalf("global limit of 10 across 2 replicas: %d served, %d limited", ok, limited)
	}

	// What replica 1 cached, replica 2 reads from the cluster (the cache
	// is per project: the default one here).
	for i := range 20 {
		if status, _, body := g1.post(t, "/v1/chat/completions", fmt.Sprintf(`{"model":"mock/echo","messages":[{"role":"user","content":"shared %d"}]}`, i), nil); status != 200 {
			t.Fatalf("replica 1: %d %s", status, body)
		}
	}
	counts := func() (masters, keys int) {
		var n [3]int64
		i := atomic.Int32{}
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			keys, _, err := node.Scan(ctx, 0, "gw:cache:*", 10000).Result()
			n[i.Add(1)-1] = int64(len(keys))
			return err
		})
		for _, v := range n {
			if v > 0 {
				masters++
			}
			keys += int(v)
		}
		return
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m, k := counts()
		if k >= 20 {
			break
		}
		if time.Now().After(deadline) {
			_, metrics := g1.do(t, "GET", "/metrics", nil, nil)
			var lines []string
			for _, l := range strings.Split(metrics, "\n") {
				if strings.Contains(l, "redis") || strings.Contains(l, "cache") {
					lines = append(lines, l)
				}
			}
			t.Fatalf("replica 1's writes to the cluster: %d keys on %d masters, want 20; replica 1's metrics:\n%s", k, m, strings.Join(lines, "\n"))
		}
	}
	for i := range 20 {
		status, h, _ := g2.post(t, "/v1/chat/completions", fmt.Sprintf(`{"model":"mock/echo","messages":[{"role":"user","content":"shared %d"}]}`, i), nil)
		if status != 200 || h.Get("X-Gateway-Cache") != "hit-redis" {
			t.Fatalf("replica 2, prompt %d: %d cache %q", i, status, h.Get("X-Gateway-Cache"))
		}
	}
	// The entries are spread over the masters; the purge finds them all.
	if m, k := counts(); m < 2 {
		t.Fatalf("cache entries on %d master(s) only (%d keys): not spread", m, k)
	}
	if status, body := g1.do(t, "DELETE", "/admin/cache", nil, nil); status != 200 {
		t.Fatalf("purge: %d %s", status, body)
	}
	if m, k := counts(); k != 0 {
		t.Fatalf("%d cache keys left on %d master(s) after the purge", k, m)
	}

	// A policy uploaded to one replica reaches the other.
	module := readExample(t, "wat-router/router.wasm")
	if status, body := g1.do(t, "PUT", "/admin/policies/watrouter?position=before:router", strings.NewReader(string(module)), nil); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, resp := g2.do(t, "GET", "/admin/policies/watrouter", nil, nil)
		if status == 200 && strings.Contains(resp, `"origin":"upload"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy not on replica 2: %d %s", status, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A replica started later loads it from whichever master holds it.
	g3 := startGateway(t, fmt.Sprintf(conf, t.TempDir()), env)
	waitFor(t, "a new replica to load stored policies", func() bool {
		status, _ := g3.do(t, "GET", "/admin/policies/watrouter", nil, nil)
		return status == 200
	})
}
