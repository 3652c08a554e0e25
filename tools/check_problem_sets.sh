#!/usr/bin/env bash
# Builds what the problem-set checker needs and runs it: every question complete, every number in
# an answer checked, English and Chinese in step, Chinese terms as the glossary says.
#
#   tools/check_problem_sets.sh            all files
#   tools/check_problem_sets.sh 14-fp8     only problems in files whose name contains 14-fp8
#
# Several writers may run it at once: the build takes a lock, so their builds queue rather than
# collide in one build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DTLAB_BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || { echo "no $build/build.ninja: run ./dtlab build first" >&2; exit 2; }
flock /tmp/dtlab-build.lock cmake --build "$build" --target docs_tests dtlab >/tmp/check_problem_sets.$$.log 2>&1 || {
  cat /tmp/check_problem_sets.$$.log >&2; rm -f /tmp/check_problem_sets.$$.log; exit 1; }
rm -f /tmp/check_problem_sets.$$.log
out=$("$build/bin/docs_tests" --gtest_brief=1 2>&1) && status=0 || status=$?
if [ -n "${1:-}" ]; then
  printf '%s\n' "$out" | grep -F -- "$1" || echo "no problems reported for files matching '$1'"
else
  printf '%s\n' "$out"
fi
exit $status
