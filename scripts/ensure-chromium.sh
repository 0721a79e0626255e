#!/usr/bin/env bash
# Debian's Chromium for the browser tests: Playwright drives /usr/bin/chromium because
# `playwright install` cannot download a browser here. Installs it with apt when missing
# and allowed (root); otherwise says that the browser tests will be skipped.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium (and CJK fonts) for the browser tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  if [ -x /usr/bin/chromium ]; then exit 0; fi
  echo "apt-get could not install chromium" >&2
fi
if [ "${CI:-}" = "true" ]; then
  echo "CI needs /usr/bin/chromium for the browser tests" >&2
  exit 1
fi
echo "*** /usr/bin/chromium is missing: the browser tests will be SKIPPED (run as root to install it) ***"
