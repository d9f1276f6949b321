#!/usr/bin/env bash
# Repeated generations in one process, sampling heap and native memory (dev.suppress.benchmarks.RepeatedGenerations).
#   benchmarks/run-memory.sh                        # DJL: 100 full 50-step generations, then ONNX Runtime: 50 of 50
#   benchmarks/run-memory.sh --steps 10             # the same with 10-step generations (extra options go to both)
# DJL_GENERATIONS / ONNX_GENERATIONS change the counts, ONNX_ITO_ITERATIONS the ONNX run's ITO iterations per step
# (default 2: each finite-difference iteration is 17 attention passes). THREADS: libtorch threads (default 1).
# The heap is fixed and pre-touched (-Xms = -Xmx, AlwaysPreTouch) so that the resident set grows only with native
# memory, not with heap expansion.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/build-if-needed.sh"
THREADS="${THREADS:-1}"
JAVA=(java -Xms512m -Xmx512m -XX:+AlwaysPreTouch -Dai.djl.offline=true -Dai.djl.pytorch.num_threads="$THREADS"
  -Dai.djl.pytorch.num_interop_threads=1 -cp "$HERE/target/benchmarks.jar" dev.suppress.benchmarks.RepeatedGenerations)
status=0
"${JAVA[@]}" --backend djl --generations "${DJL_GENERATIONS:-100}" "$@" || status=$?
echo
"${JAVA[@]}" --backend onnx --generations "${ONNX_GENERATIONS:-50}" --ito-iterations "${ONNX_ITO_ITERATIONS:-2}" \
  "$@" || status=$?
exit "$status"
