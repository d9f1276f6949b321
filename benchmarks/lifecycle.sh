#!/usr/bin/env bash
# Lifecycle memory (issue 16 item 5), on the fixture model (../shared/fixtures/tiny-sd):
#  1. GENERATIONS (100) consecutive generations in one process (dev.suppress.benchmarks.RepeatedGenerations), one more
#     cancelled halfway after every 10th, heap after GC and VmRSS sampled every 10;
#  2. REQUESTS (20) generation jobs through `suppress serve` (a separate process, driven over HTTP with curl), one
#     more cancelled with DELETE while it runs after every 5th, the server's VmRSS, heap after GC (jcmd GC.run,
#     GC.heap_info) and NMT committed total (jcmd VM.native_memory) sampled after every job.
#   benchmarks/lifecycle.sh                 # STEPS=10 SIZE=128 by default; BACKEND=onnx for part 1 on ONNX Runtime
# Both JVMs have a fixed, pre-touched heap (-Xms = -Xmx, AlwaysPreTouch), so the resident set grows only with
# native memory, and libtorch on one thread (a busy neighbour stalls its default pool on the shared 2 cores).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
source "$HERE/build-if-needed.sh"
SUPPRESS_JAR="$ROOT/examples/target/suppress.jar"
if [[ ! -f "$SUPPRESS_JAR" ]] || [[ -n "$(find "$ROOT" -path "$ROOT/*/target" -prune -o \
        \( -path '*/src/main/*' -o -name pom.xml \) -newer "$SUPPRESS_JAR" -print -quit)" ]]; then
  echo "building $SUPPRESS_JAR ..." >&2
  (cd "$ROOT" && mvn -q -B -pl examples -am package -DskipTests)
fi
FIXTURES="${SUPPRESS_FIXTURES:-$ROOT/../shared/fixtures}"
GENERATIONS="${GENERATIONS:-100}"
REQUESTS="${REQUESTS:-20}"
STEPS="${STEPS:-10}"
SIZE="${SIZE:-128}"
BACKEND="${BACKEND:-djl}"
PORT="${PORT:-7871}"
JVM=(-Xms256m -Xmx256m -XX:+AlwaysPreTouch -XX:NativeMemoryTracking=summary -Dai.djl.offline=true
  -Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1 -Dsuppress.fixtures="$FIXTURES")

echo "== 1. $GENERATIONS generations in one process ($BACKEND, $STEPS steps, $SIZE px)"
java "${JVM[@]}" -cp "$HERE/target/benchmarks.jar" dev.suppress.benchmarks.RepeatedGenerations \
  --backend "$BACKEND" --generations "$GENERATIONS" --steps "$STEPS" --size "$SIZE" --cancel-every 10

echo
echo "== 2. $REQUESTS jobs through suppress serve (djl, $STEPS steps, $SIZE px)"
OUT="$(mktemp -d)"
java "${JVM[@]}" -jar "$SUPPRESS_JAR" serve --model "$FIXTURES/tiny-sd" --port "$PORT" --out "$OUT/images" \
  >"$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$OUT"' EXIT
API="http://127.0.0.1:$PORT/api/v1"
for _ in $(seq 1 300); do
  curl -sf "$API/model" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/serve.log"; exit 1; }
  sleep 0.2
done

submit() { # seed -> job id
  curl -sf -X POST "$API/jobs" -H 'Content-Type: application/json' -d "{\"prompt\": \"a man without glasses\", \
\"suppress\": [\"glasses\"], \"seed\": $1, \"steps\": $STEPS, \"size\": $SIZE}" \
    | sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p'
}
state() { curl -sf "$API/jobs/$1" | sed -n 's/.*"state" *: *"\([a-z]*\)".*/\1/p'; }
wait_for() { # id, the states to wait out
  local s
  while s="$(state "$1")"; [[ " $2 " == *" $s "* ]]; do sleep 0.1; done
  echo "$s"
}
sample() { # requests done -> one table row
  jcmd "$SERVER" GC.run >/dev/null
  sleep 0.2
  jcmd "$SERVER" GC.run >/dev/null
  local heap nmt rss
  heap="$(jcmd "$SERVER" GC.heap_info | sed -n 's/.* used \([0-9]*\)K.*/\1/p' | head -1)"
  nmt="$(jcmd "$SERVER" VM.native_memory summary | sed -n 's/^Total: reserved=[0-9]*KB, committed=\([0-9]*\)KB.*/\1/p')"
  rss="$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$SERVER/status")"
  awk -v j="$1" -v c="$2" -v h="$heap" -v n="$nmt" -v r="$rss" \
    'BEGIN { printf "  %4d  %9d  %12.1f  %15.1f  %8.1f\n", j, c, h / 1024, n / 1024, r / 1024 }'
}

START=$(date +%s)
echo "  jobs  cancelled  heap used MB  NMT committed MB  VmRSS MB"
cancelled=0
sample 0 0
for r in $(seq 1 "$REQUESTS"); do
  id="$(submit "$r")"
  s="$(wait_for "$id" "queued running")"
  [[ "$s" == done ]] || { echo "job $r ended $s"; cat "$OUT/serve.log"; exit 1; }
  if (( r % 5 == 0 )); then
    id="$(submit $((1000 + r)))"
    wait_for "$id" "queued" >/dev/null
    curl -sf -X DELETE "$API/jobs/$id" >/dev/null
    s="$(wait_for "$id" "running")"
    [[ "$s" == cancelled ]] || { echo "the job to cancel ended $s"; exit 1; }
    cancelled=$((cancelled + 1))
  fi
  sample "$r" "$cancelled"
done
echo "$REQUESTS jobs (and $cancelled cancelled) in $(( $(date +%s) - START )) s"
