#!/usr/bin/env bash
# Unit tests under AddressSanitizer (issue 15), in their own build folder (.build/asan).
#   scripts/sanitize.sh            the robustness subset: loader, batch listing, sessions, limits
#   scripts/sanitize.sh '.*'       every unit test (the full run; the Vulkan ones need lavapipe)
# Measured here (2 shared cores, 2026-12-06): the first ASan build 313 s, the subset 5 s.
# Leak detection is off: XCTest's own runner objects are reported as leaked at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-'RobustnessTests|FormatTests|BatchTests|SessionTests'}
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 swift test --sanitize=address --build-path .build/asan --filter "$filter"
