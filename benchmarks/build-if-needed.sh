#!/usr/bin/env bash
# Builds benchmarks/target/benchmarks.jar (and its lib/) when it is missing or older than any main source or pom.
# Sourced by run-comparison.sh and run-memory.sh; never runs tests, never installs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAR="$ROOT/benchmarks/target/benchmarks.jar"
if [[ ! -f "$JAR" ]] || [[ -n "$(find "$ROOT" -path "$ROOT/*/target" -prune -o \
        \( -path '*/src/main/*' -o -name pom.xml \) -newer "$JAR" -print -quit)" ]]; then
  echo "building $JAR ..." >&2
  (cd "$ROOT" && mvn -q -B -pl benchmarks -am package -DskipTests)
fi
