#!/usr/bin/env bash
# Captures the requests of a real Claude Code (see README.md) into this
# directory. Usage: CLAUDE=/path/to/claude ./capture.sh
# Everything stays on loopback; each run is bounded by timeouts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
claude=${CLAUDE:-claude}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/capture" && go build -o "$tmp/capture" .)
mkdir -p "$tmp/home" "$tmp/work"
cp "$here"/files/* "$tmp/work/"

# run NAME PORT PROMPT [capture flags]: captures every request of one
# non-interactive session; the last request is kept as NAME.
run() {
  local name=$1 port=$2 prompt=$3
  shift 3
  local out="$tmp/$name"
  "$tmp/capture" -listen "127.0.0.1:$port" -out "$out" -for 3m "$@" &
  local pid=$!
  sleep 0.5
  (cd "$tmp/work" && HOME="$tmp/home" ANTHROPIC_BASE_URL="http://127.0.0.1:$port" ANTHROPIC_API_KEY=test \
    DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 ANTHROPIC_MODEL=mock/echo \
    timeout 120 "$claude" -p "$prompt" --allowedTools "Read,ToolSearch" </dev/null) || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local last
  last=$(ls "$out"/*.body.json | sort | tail -1)
  cp "$last" "$here/$name.body.json"
  cp "${last%.body.json}.json" "$here/$name.json"
  # The temporary directory differs on every run: name it /tmp/ccwork
  # (and /tmp/cchome), also in Claude Code's dashed project-directory form.
  local dashed="${tmp//[\/.]/-}-work"
  sed -i -e "s#$tmp/work#/tmp/ccwork#g" -e "s#$tmp/home#/tmp/cchome#g" -e "s#$dashed#-tmp-ccwork#g" \
    "$here/$name.body.json" "$here/$name.json"
}

run hello 18471 "Say hello"
run read_text 18472 "Read notes.txt and tell me the secret word." \
  -tool Read -input "{\"file_path\":\"$tmp/work/notes.txt\"}" -thinking -reply "The secret word is pineapple."
run read_image 18473 "Describe the image red.png." \
  -tool Read -input "{\"file_path\":\"$tmp/work/red.png\"}" -reply "It is a small red square."
run read_pdf 18474 "Summarise hello.pdf." \
  -tool Read -input "{\"file_path\":\"$tmp/work/hello.pdf\"}" -reply "It says Hello PDF."
run tool_search 18475 "Load the WebFetch tool." \
  -tool ToolSearch -input '{"query":"select:WebFetch"}' -reply "WebFetch is loaded."
"$claude" --version > "$here/VERSION"
