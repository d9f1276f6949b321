#!/usr/bin/env bash
# The long fuzzing run of every Jazzer target (`mvn verify` gives each only 5 s).
#   benchmarks/fuzz.sh                    # 10 minutes per target, one target after the other
#   DURATION=1h benchmarks/fuzz.sh        # longer; DURATION is Jazzer's max_duration (30s, 10m, 2h)
#   benchmarks/fuzz.sh SafetensorsFuzzTest PromptFuzzTest   # only these
# Each target runs alone (mvn -Dtest=<class>) so that the summary can name it. libFuzzer's output goes to
# target/fuzz-logs/<class>.log. The corpus grows in <module>/.cifuzz-corpus/ (git-ignored) and is reused by the next
# run. A finding fails the target and is written to
# <module>/src/test/resources/<package>/<Class>Inputs/<method>/crash-*: commit it with the fix, and every
# `mvn verify` replays it as a regression test.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${DURATION:-10m}"
LOG_DIR="target/fuzz-logs"
mkdir -p "$LOG_DIR"
ALL=(suppress-core:SafetensorsFuzzTest suppress-core:ClipTokenizerFuzzTest suppress-core:PromptFuzzTest
  suppress-core:SchedulerConfigFuzzTest suppress-core:SuppressionRequestFuzzTest suppress-djl:ModelConfigFuzzTest
  suppress-djl:SingleFileFuzzTest)
TARGETS=()
for entry in "${ALL[@]}"; do
  if [ $# -eq 0 ] || [[ " $* " == *" ${entry#*:} "* ]]; then
    TARGETS+=("$entry")
  fi
done
status=0
summary=()
for entry in "${TARGETS[@]}"; do
  module="${entry%%:*}"
  class="${entry#*:}"
  log="$LOG_DIR/$class.log"
  echo "fuzzing $class ($module) for $DURATION, log in $log" >&2
  started=$(date +%s)
  if mvn -B -q -pl "$module" -am test -Dtest="$class" -Dsurefire.failIfNoSpecifiedTests=false \
      -Dsuppress.fuzz.duration="$DURATION" >"$log" 2>&1; then
    result="no finding"
  else
    result="FAILED (see $log and $module/src/test/resources/**/${class}Inputs/)"
    status=1
  fi
  runs=$(grep -a -o 'Done [0-9]* runs' "$log" | tail -1 | awk '{print $2}')
  summary+=("$(printf '%-28s %12s %8ss  %s' "$class" "${runs:-?}" "$(($(date +%s) - started))" "$result")")
done
printf '%-28s %12s %9s  %s\n' target executions wall result
printf '%s\n' "${summary[@]}"
exit "$status"
