#!/usr/bin/env bash
# Fast mode against reference mode in one JVM (dev.suppress.benchmarks.FastVsReference).
#   benchmarks/run-comparison.sh                         # the fixture model, seed 2023
#   benchmarks/run-comparison.sh --seeds 2023,7,11,42    # several seeds and a summary
#   benchmarks/run-comparison.sh --model ~/models/stable-diffusion-v1-5 --prompt "..." --suppress glasses
# THREADS sets libtorch's intra-op threads (default 1: on shared cores a busy neighbour stalls a larger pool).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/build-if-needed.sh"
THREADS="${THREADS:-1}"
exec java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads="$THREADS" -Dai.djl.pytorch.num_interop_threads=1 \
  -cp "$HERE/target/benchmarks.jar" dev.suppress.benchmarks.FastVsReference "$@"
