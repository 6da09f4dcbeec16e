package semantic

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/aigateway/gateway/internal/backoff"
	"github.com/redis/go-redis/v9"
)

// Redis layout, under engine/cache's conventions (the project segment is
// cache.KeySegment, the value holds the entry in the exact cache's stored
// form):
//
//	gw:sem:<project>:{<scope-hex>}:<id-hex>  STRING  one record, expiring with its entry
//	gw:sem:<project>:{<scope-hex>}:idx       ZSET    record ids scored by expiry (Unix s)
//
// The scope is a hash tag: a scope's index and records share a Redis
// Cluster slot, so that one MGET reads them.
const keyPrefix = "gw:sem:"

func scopePrefix(project string, s scopeID) string {
	return keyPrefix + cache.KeySegment(project) + ":{" + hex.EncodeToString(s[:]) + "}:"
}

// remote is the Redis tier: loads wait at most timeout per round trip,
// writes are queued for one background writer so that no request waits for
// them.
type remote struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	bo      backoff.Backoff
	ctr     *counters

	queue   chan writeJob
	pending atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

type writeJob struct {
	prefix  string // gw:sem:<project>:<scope>:
	id      string
	val     []byte
	ttl     time.Duration
	expires int64
	keep    int // records kept in the scope's index
}

func newRemote(url string, timeout, minBackoff, maxBackoff time.Duration, queue int, ctr *counters) (*remote, error) {
	rdb, err := redisconn.Open(url, cache.RedisTuning(timeout))
	if err != nil {
		return nil, fmt.Errorf("semantic redis_url: %w", err)
	}
	r := &remote{
		rdb: rdb, timeout: timeout, ctr: ctr,
		bo:    backoff.Backoff{Min: minBackoff, Max: maxBackoff},
		queue: make(chan writeJob, queue), stop: make(chan struct{}),
	}
	r.wg.Add(1)
	go r.writer()
	return r, nil
}

func (r *remote) failed() {
	r.ctr.redisErrors.Add(1)
	mErrors[srcRedis].Inc()
	r.bo.Fail()
}

// load returns the stored records of a scope that expire after now, newest
// expiry first, at most limit. Each round trip (the index, then the
// records) waits at most the timeout.
func (r *remote) load(ctx context.Context, prefix string, now int64, limit int) ([][]byte, error) {
	if !r.bo.Allow() {
		r.ctr.redisSkipped.Add(1)
		return nil, ErrRedisSkipped
	}
	c, cancel := context.WithTimeout(ctx, r.timeout)
	ids, err := r.rdb.ZRevRangeByScore(c, prefix+"idx", &redis.ZRangeBy{
		Min: strconv.FormatInt(now+1, 10), Max: "+inf", Count: int64(limit),
	}).Result()
	cancel()
	if err != nil {
		r.failed()
		return nil, err
	}
	if len(ids) == 0 {
		r.bo.OK()
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = prefix + id
	}
	c, cancel = context.WithTimeout(ctx, r.timeout)
	vals, err := r.rdb.MGet(c, keys...).Result()
	cancel()
	if err != nil {
		r.failed()
		return nil, err
	}
	r.bo.OK()
	out := make([][]byte, 0, len(vals))
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, []byte(s))
		}
	}
	return out, nil
}

// set queues a record write; during back-off or with a full queue it is
// dropped (the record still lives in memory).
func (r *remote) set(j writeJob) {
	if r.bo.InPeriod() {
		r.ctr.redisSkipped.Add(1)
		return
	}
	r.pending.Add(1)
	select {
	case r.queue <- j:
	default:
		r.pending.Add(-1)
		r.ctr.redisSkipped.Add(1)
	}
}

func (r *remote) writer() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case j := <-r.queue:
			r.write(j)
			r.pending.Add(-1)
		}
	}
}

// write stores the record and indexes it, dropping expired ids and all but
// the keep ids that expire last. Ids trimmed from the index leave their
// records to expire on their own.
func (r *remote) write(j writeJob) {
	if !r.bo.Allow() {
		r.ctr.redisSkipped.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	idx := j.prefix + "idx"
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, j.prefix+j.id, j.val, j.ttl)
		p.ZAdd(ctx, idx, redis.Z{Score: float64(j.expires), Member: j.id})
		p.ZRemRangeByScore(ctx, idx, "-inf", strconv.FormatInt(time.Now().Unix(), 10))
		p.ZRemRangeByRank(ctx, idx, 0, int64(-j.keep-1))
		p.Expire(ctx, idx, j.ttl)
		return nil
	})
	if err != nil {
		r.failed()
		return
	}
	r.bo.OK()
	r.ctr.redisStores.Add(1)
	mStores[1].Inc()
}

func (r *remote) flush(ctx context.Context) error {
	for r.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// purge deletes the keys matching pattern, bounded by ctx (an admin
// operation, not a request).
func (r *remote) purge(ctx context.Context, pattern string) (int, error) {
	return cache.PurgeKeys(ctx, r.rdb, pattern)
}

func (r *remote) close() {
	close(r.stop)
	r.wg.Wait()
	_ = r.rdb.Close()
}

// A record's stored form:
//
//	magic(1) version(1)
//	text        uvarint length + bytes
//	vector      uvarint dims + dims × float32 (little endian)
//	entry       the rest: cache.AppendEntry (namespace, expiry, answer)
const (
	recMagic   = 0x5E
	recVersion = 1
	maxRecDims = 1 << 16
)

func appendRecord(dst []byte, r *rec, provider, model string, compressAt int) []byte {
	dst = append(dst, recMagic, recVersion)
	dst = binary.AppendUvarint(dst, uint64(len(r.text)))
	dst = append(dst, r.text...)
	dst = binary.AppendUvarint(dst, uint64(len(r.vec)))
	for _, f := range r.vec {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return cache.AppendEntry(dst, r.entry, r.project, provider, model, r.expires, compressAt)
}

// decodeRecord decodes a stored record; the text, vector and entry are
// copies or own b.
func decodeRecord(b []byte) (text string, vec []float32, e *cache.Entry, err error) {
	if len(b) < 2 || b[0] != recMagic || b[1] != recVersion {
		return "", nil, nil, ErrCorrupt
	}
	b = b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, nil, ErrCorrupt
	}
	text = string(b[k : k+int(n)])
	b = b[k+int(n):]
	d, k := binary.Uvarint(b)
	if k <= 0 || d > maxRecDims || d*4 > uint64(len(b)-k) {
		return "", nil, nil, ErrCorrupt
	}
	b = b[k:]
	vec = make([]float32, d)
	for i := range vec {
		f := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return "", nil, nil, ErrCorrupt
		}
		vec[i] = f
	}
	b = b[4*d:]
	e, err = cache.DecodeEntry(b)
	if err != nil {
		return "", nil, nil, ErrCorrupt
	}
	return text, vec, e, nil
}
