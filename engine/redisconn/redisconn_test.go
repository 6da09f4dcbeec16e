package redisconn

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		kind      Kind
		want      string // the client's type, or the error's text
	}{
		{"single", "redis://127.0.0.1:6379/0", Single, "*redis.Client"},
		{"single tls", "rediss://127.0.0.1:6379/0", Single, "*redis.Client"},
		{"cluster", "redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", Cluster, "*redis.ClusterClient"},
		{"sentinel", "redis+sentinel://127.0.0.1:26379?master_name=mymaster", Sentinel, "*redis.Client"},
		{"sentinel without master", "redis+sentinel://127.0.0.1:26379", Sentinel, "master_name is required"},
		{"cluster bad option", "redis+cluster://127.0.0.1:7000?nonsense=1", Cluster, "redis cluster url"},
		{"unknown scheme", "http://127.0.0.1:6379", Single, "invalid URL scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if k := KindOf(tc.url); k != tc.kind {
				t.Fatalf("KindOf = %d, want %d", k, tc.kind)
			}
			c, err := Open(tc.url, Tuning{ReadTimeout: 1, MaxRetries: -1, ContextTimeout: true})
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q, want %q", err, tc.want)
				}
				return
			}
			defer c.Close()
			var got string
			switch c.(type) {
			case *redis.Client:
				got = "*redis.Client"
			case *redis.ClusterClient:
				got = "*redis.ClusterClient"
			}
			if got != tc.want {
				t.Fatalf("client %T, want %s", c, tc.want)
			}
		})
	}
}
