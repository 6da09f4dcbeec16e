#!/bin/bash
# abcompare.sh BASE_REV [ROUNDS]: the hot-path Go benchmarks of BASE_REV and
# of the working tree, interleaved (BASE, HEAD, BASE, HEAD, …) so that a
# change in the machine's load hits both sides alike; prints the median
# ns/op of each benchmark on each side. Test binaries are built first, so
# the rounds measure nothing but the benchmarks.
set -euo pipefail
base=${1:?usage: bench/abcompare.sh BASE_REV [ROUNDS]}
rounds=${2:-4}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add -q --detach "$tmp/base" "$base"
for side in base head; do
  dir=$root; [ "$side" = base ] && dir=$tmp/base
  (cd "$dir" && go test -c -o "$tmp/$side-engine.test" ./engine/ && go test -c -o "$tmp/$side-prov.test" ./providers/)
done
for ((r = 1; r <= rounds; r++)); do
  for side in base head; do
    dir=$root; [ "$side" = base ] && dir=$tmp/base
    (cd "$dir/engine" && "$tmp/$side-engine.test" -test.run '^$' -test.bench 'BenchmarkChatHandler|BenchmarkCacheHitHandler|BenchmarkStreamRelayChunk' -test.benchmem -test.count=2 | grep '^Benchmark' >>"$tmp/$side.txt")
    (cd "$dir/providers" && "$tmp/$side-prov.test" -test.run '^$' -test.bench 'BenchmarkDecode' -test.benchmem -test.count=2 | grep '^Benchmark' >>"$tmp/$side.txt")
  done
done
for side in base head; do
  echo "== $side"
  sort -k1,1 -k3,3n "$tmp/$side.txt" | awk '{v[$1]=v[$1]" "$3; n[$1]++} END {for (k in v) {split(v[k], a, " "); m=n[k]; med=(m%2)?a[(m+1)/2]:(a[m/2]+a[m/2+1])/2; printf "%-40s %10.1f ns/op (median of %d)\n", k, med, m}}' | sort
done
