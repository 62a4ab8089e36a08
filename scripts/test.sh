#!/usr/bin/env bash
# Runs every check of the project: type checks, then the vitest suite
# against real nats-server processes. Installs what is missing first: the
# Debian package nats-server (through apt-get) and node_modules (through
# npm ci). Works as root without a TTY, as CI runs it (CI=true, no stdin);
# as another user it calls sudo for apt-get only. Stops at the first
# failing step with a non-zero exit code.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
  printf '\n==> %s\n' "$*"
}

fail() {
  printf 'scripts/test.sh: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "installing needs root: run this script as root, or install sudo"
  fi
}

require_node() {
  command -v node >/dev/null || fail 'node not found; install Node.js 20 or later'
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [[ $major -ge 20 ]] || fail "Node.js $(node -v) is too old; install Node.js 20 or later"
}

# Debian installs nats-server to /usr/sbin, which is not on a normal user's
# PATH; the test helper reads NATS_SERVER_BIN in that case.
ensure_nats_server() {
  if ! command -v nats-server >/dev/null && [[ ! -x /usr/sbin/nats-server ]]; then
    step 'install nats-server (apt-get)'
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends nats-server
  fi
  if ! command -v nats-server >/dev/null; then
    export NATS_SERVER_BIN=/usr/sbin/nats-server
  fi
}

# npm ci wipes node_modules, so it runs only when node_modules is missing or
# older than package-lock.json (npm writes node_modules/.package-lock.json
# on every install).
ensure_node_modules() {
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    step 'npm ci'
    npm ci --no-audit --no-fund
  fi
}

require_node
ensure_nats_server
ensure_node_modules

step 'type check: tsconfig.json'
npx tsc -p tsconfig.json --noEmit

if [[ -f bench/k6/tsconfig.json ]]; then
  step 'type check: bench/k6/tsconfig.json'
  npx tsc -p bench/k6/tsconfig.json
fi

step 'vitest run'
report_dir="$(mktemp -d -t killfeed-test.XXXXXX)"
trap 'rm -rf "$report_dir"' EXIT

status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report_dir/vitest.json" || status=$?

# One plain closing line, 'N passed, N failed', for tools that read the count.
if [[ -s $report_dir/vitest.json ]]; then
  # shellcheck disable=SC2016 # JavaScript template literal, not a shell expansion
  node -e '
    const report = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = report.numPendingTests + report.numTodoTests;
    console.log(`vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
  ' "$report_dir/vitest.json"
fi
exit "$status"
