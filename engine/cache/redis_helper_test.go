package cache

import (
	"github.com/aigateway/gateway/engine/internal/redistest"
	"testing"

	"github.com/redis/go-redis/v9"
)

// redisServer adapts the shared real-redis-server helper to this package's
// tests.
type redisServer struct{ *redistest.Server }

func startRedis(t testing.TB) *redisServer { return &redisServer{redistest.Start(t)} }

func (s *redisServer) url() string { return s.URL() }

func (s *redisServer) start() { s.Restart() }

func (s *redisServer) stop() { s.Stop() }

func (s *redisServer) client() *redis.Client { return s.Client() }
