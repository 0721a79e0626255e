#!/usr/bin/env bash
# axe-core (from the npm registry) for the accessibility browser test
# (tests/browser/test_accessibility.py). Not committed: installed into the git-ignored
# .cache/axe only when axe.min.js is missing. Without npm or the registry the test is
# skipped locally and fails on CI (CI=true), like the browser tests without chromium.
set -u
cd "$(dirname "$0")/.."
AXE=.cache/axe/node_modules/axe-core/axe.min.js
if [ -f "$AXE" ]; then exit 0; fi
if command -v npm >/dev/null 2>&1; then
  echo "installing axe-core from the npm registry into .cache/axe…"
  mkdir -p .cache/axe
  npm install --no-save --no-audit --no-fund --silent --prefix .cache/axe axe-core@4 >/dev/null
  if [ -f "$AXE" ]; then exit 0; fi
  echo "npm could not install axe-core" >&2
fi
if [ "${CI:-}" = "true" ]; then
  echo "CI needs axe-core ($AXE) for the accessibility test" >&2
  exit 1
fi
echo "*** $AXE is missing: the accessibility test will be SKIPPED (needs npm and the npm registry) ***"
