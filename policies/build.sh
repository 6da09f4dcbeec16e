#!/bin/sh
# Builds every Wasm artifact of the repository, reproducibly:
#   policies/NAME/           -> policies/wasm/NAME.wasm   (embedded built-ins)
#   examples/NAME/ (Go)      -> examples/NAME/NAME.wasm
#   **/*.wat (examples, wasm/testdata) -> the .wasm beside it (needs wat2wasm)
#   wasm/testdata/guests/NAME/ (Go test guests) -> wasm/testdata/guests/NAME.wasm
#
# Output depends only on the sources and the Go toolchain version (go.mod's
# toolchain): -trimpath drops paths, -buildvcs=false drops VCS stamps,
# -buildid= drops the build ID. CI rebuilds and checks `git diff --exit-code`.
# The built modules are committed, so a fresh clone builds without this step.
set -eu
cd "$(dirname "$0")/.."

GO=${GO:-go}
export GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOFLAGS= GOWASM= GOEXPERIMENT=
build() { # build OUT PKG
	$GO build -trimpath -buildvcs=false -buildmode=c-shared -ldflags='-w -buildid=' -o "$1" "$2"
}
is_main() { grep -qs '^package main' "$1"/*.go; }

mkdir -p policies/wasm
for dir in policies/*/; do
	dir=${dir%/}
	name=${dir#policies/}
	is_main "$dir" || continue
	build "policies/wasm/$name.wasm" "./$dir"
done

for dir in examples/*/; do
	dir=${dir%/}
	name=${dir#examples/}
	is_main "$dir" || continue
	build "$dir/$name.wasm" "./$dir"
done

if [ -d wasm/testdata/guests ]; then
	for dir in wasm/testdata/guests/*/; do
		dir=${dir%/}
		is_main "$dir" || continue
		build "$dir.wasm" "./$dir"
	done
fi

if command -v wat2wasm >/dev/null 2>&1; then
	find examples wasm/testdata -name '*.wat' | sort | while read -r wat; do
		wat2wasm "$wat" -o "${wat%.wat}.wasm"
	done
else
	echo "build.sh: wat2wasm not found (Debian: apt-get install wabt); keeping the committed .wasm of the .wat sources" >&2
fi
