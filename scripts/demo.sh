#!/usr/bin/env bash
# Shows the gateway working end to end on one machine: a nats-server on
# loopback, the gateway, a replay of the shipped killmail corpus into NATS,
# and `killfeed tail` printing the kills it receives over the WebSocket feed.
#
# Run it from a checkout on Debian 12 with Node.js 20, as root or as a user
# with sudo (sudo is used for apt-get only). It installs what is missing:
# the Debian package nats-server (unless NATS_URL is set), node_modules
# (npm ci) and dist/ (npm run build, every run).
#
# Environment:
#   NATS_URL        use this NATS server instead of starting one; the replay
#                   publishes the corpus to it on kills.<region>.<system>
#   KILLFEED_PORT   gateway port on 127.0.0.1 (default 8080)
#   DEMO_SECONDS    stop everything after this many seconds (default: run
#                   until Ctrl-C)
#   DEMO_SPEED      replay speed-up of the corpus's own timing (default 20,
#                   about 3 kills a second)
# Other KILLFEED_* variables reach the gateway unchanged, except that
# KILLFEED_DEDUPE_WINDOW_S defaults to 0 here (see the gateway step).
#
# Ctrl-C, or the end of DEMO_SECONDS, stops what this script started and
# nothing else: SIGTERM to tail, replay and the gateway (which then runs its
# graceful shutdown), then to nats-server. Logs stay in the temp directory
# printed at start.
set -euo pipefail
# Job control puts each background process in its own process group, so
# Ctrl-C in the terminal reaches only this script, and the cleanup below
# stops the processes in order (nats-server last, after the gateway drained).
set -m

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly CORPUS=data/killmails/2021-11-28T00-03.jsonl.gz
readonly GATEWAY_PORT="${KILLFEED_PORT:-8080}"
readonly SPEED="${DEMO_SPEED:-20}"
readonly READY_TIMEOUT_S=30
readonly NATS_START_TIMEOUT_S=10
# Seconds the gateway gets to exit after SIGTERM: its own shutdown deadline,
# KILLFEED_SHUTDOWN_TIMEOUT_MS (default 10 s), plus 5 s. An invalid value is
# left for the gateway to reject at start.
shutdown_timeout_ms="${KILLFEED_SHUTDOWN_TIMEOUT_MS:-10000}"
[[ $shutdown_timeout_ms =~ ^[0-9]{1,9}$ ]] || shutdown_timeout_ms=10000
readonly GATEWAY_STOP_TIMEOUT_S=$(( shutdown_timeout_ms / 1000 + 5 ))

say() {
  printf 'demo: %s\n' "$*" >&2
}

fail() {
  say "error: $*"
  exit 1
}

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "installing needs root: run this script with sudo, or as root"
  fi
}

# --- checks and installs ----------------------------------------------------

if [[ -n ${DEMO_SECONDS:-} && ! $DEMO_SECONDS =~ ^[1-9][0-9]*$ ]]; then
  fail "DEMO_SECONDS=\"$DEMO_SECONDS\" is invalid: expected a positive whole number of seconds"
fi
if [[ ! $GATEWAY_PORT =~ ^[1-9][0-9]*$ ]] || (( GATEWAY_PORT > 65535 )); then
  fail "KILLFEED_PORT=\"$GATEWAY_PORT\" is invalid: expected a port from 1 to 65535"
fi
[[ -f $CORPUS ]] || fail "corpus $CORPUS not found; run this script from a checkout of the repository"

command -v node >/dev/null || fail 'node not found; install Node.js 20 or later'
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || fail "Node.js $(node -v) is too old; install Node.js 20 or later"

# Debian installs nats-server to /usr/sbin, which a normal user's PATH lacks.
nats_server_bin="$(command -v nats-server || true)"
if [[ -z ${NATS_URL:-} && -z $nats_server_bin ]]; then
  if [[ ! -x /usr/sbin/nats-server ]]; then
    say 'installing nats-server (apt-get)'
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends nats-server
  fi
  nats_server_bin=/usr/sbin/nats-server
fi

# npm ci wipes node_modules, so it runs only when node_modules is missing or
# older than package-lock.json (npm writes node_modules/.package-lock.json
# on every install).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say 'installing dependencies (npm ci)'
  npm ci --no-audit --no-fund
fi
say 'building (npm run build)'
npm run --silent build

# --- processes and cleanup --------------------------------------------------

log_dir="$(mktemp -d -t killfeed-demo.XXXXXX)"
say "logs: $log_dir"

nats_pid=''
gateway_pid=''
replay_pid=''
tail_pid=''
timer_pid=''
cleaned_up=0

is_running() {
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null
}

# Sends SIGTERM to one process this script started and waits up to $2
# seconds for it to exit, then sends SIGKILL.
stop_process() {
  local pid="$1" timeout_s="$2" name="$3"
  is_running "$pid" || return 0

  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while is_running "$pid" && (( waited < timeout_s * 10 )); do
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  if is_running "$pid"; then
    say "$name did not exit within ${timeout_s} s of SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  (( cleaned_up )) && return
  cleaned_up=1
  trap '' INT TERM

  say 'stopping'
  stop_process "$timer_pid" 1 timer
  stop_process "$tail_pid" 5 tail
  stop_process "$replay_pid" 5 replay
  stop_process "$gateway_pid" "$GATEWAY_STOP_TIMEOUT_S" gateway
  stop_process "$nats_pid" 5 nats-server
  say "stopped; logs are in $log_dir"
}

on_signal() {
  cleanup
  exit "$1"
}

trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# Prints the last lines of a log and exits.
fail_with_log() {
  local message="$1" log="$2"
  say "error: $message; last lines of $log:"
  tail -n 20 "$log" >&2 || true
  exit 1
}

# Returns 0 when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints 4222 when it is free on 127.0.0.1, else a free port the kernel picks.
pick_nats_port() {
  node -e '
    const net = require("node:net");
    const listen = (port, onError) => {
      const server = net.createServer();
      server.once("error", onError);
      server.listen(port, "127.0.0.1", () => {
        const chosen = server.address().port;
        server.close(() => console.log(chosen));
      });
    };
    listen(4222, () => listen(0, (err) => { console.error(err.message); process.exit(1); }));
  '
}

# --- NATS -------------------------------------------------------------------

if [[ -n ${NATS_URL:-} ]]; then
  nats_url="$NATS_URL"
  say 'using NATS_URL from the environment'
else
  nats_port="$(pick_nats_port)"
  nats_url="nats://127.0.0.1:$nats_port"
  # JetStream keeps the kills in a stream, so event ids are stream sequences
  # and a client can resume after a reconnect.
  "$nats_server_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$log_dir/jetstream" >"$log_dir/nats-server.log" 2>&1 &
  nats_pid=$!

  waited=0
  until port_open "$nats_port"; do
    is_running "$nats_pid" || fail_with_log 'nats-server exited during start' "$log_dir/nats-server.log"
    (( waited < NATS_START_TIMEOUT_S * 10 )) || fail_with_log "nats-server did not listen on 127.0.0.1:$nats_port within ${NATS_START_TIMEOUT_S} s" "$log_dir/nats-server.log"
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  say "nats-server listening on $nats_url (pid $nats_pid)"
fi

# --- gateway ----------------------------------------------------------------

if port_open "$GATEWAY_PORT"; then
  fail "port $GATEWAY_PORT on 127.0.0.1 is already in use; set KILLFEED_PORT to a free port"
fi

# The looping replay publishes the same killmail_ids again on every pass
# (one pass takes 9 minutes at speed 20). With the default deduplication
# window of 600 s the gateway would skip the whole second pass.
# With a JetStream server the gateway creates the KILLS stream if it is missing.
KILLFEED_HOST=127.0.0.1 KILLFEED_PORT="$GATEWAY_PORT" NATS_URL="$nats_url" \
  KILLFEED_DEDUPE_WINDOW_S="${KILLFEED_DEDUPE_WINDOW_S:-0}" \
  KILLFEED_STREAM_CREATE="${KILLFEED_STREAM_CREATE:-true}" \
  node dist/cli.js serve >"$log_dir/gateway.log" 2>&1 &
gateway_pid=$!

ready_url="http://127.0.0.1:$GATEWAY_PORT/readyz"
deadline=$(( SECONDS + READY_TIMEOUT_S ))
until node -e 'fetch(process.argv[1]).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "$ready_url"; do
  is_running "$gateway_pid" || fail_with_log 'the gateway exited during start' "$log_dir/gateway.log"
  (( SECONDS < deadline )) || fail_with_log "$ready_url did not return 200 within ${READY_TIMEOUT_S} s" "$log_dir/gateway.log"
  sleep 0.2
done
say "gateway ready: ws://127.0.0.1:$GATEWAY_PORT/v1/feed, metrics at http://127.0.0.1:$GATEWAY_PORT/metrics (pid $gateway_pid)"

# --- replay and tail --------------------------------------------------------

say "replaying $CORPUS into NATS at ${SPEED}x its recorded pace, in a loop"
if [[ -n ${DEMO_SECONDS:-} ]]; then
  say "live kills for ${DEMO_SECONDS} s:"
else
  say 'live kills (Ctrl-C to stop):'
fi

# tail's own log lines (connected, subscribed, finished) go to a file; its
# kill lines go to the terminal.
node dist/cli.js tail --url "ws://127.0.0.1:$GATEWAY_PORT/v1/feed" 2>"$log_dir/tail.log" &
tail_pid=$!

# tail starts first, so it is most likely subscribed before the first kill.
# That kill is 32 s into the corpus's recording, which is 1.6 s at speed 20.
NATS_URL="$nats_url" node dist/cli.js replay "$CORPUS" --speed "$SPEED" --loop >"$log_dir/replay.log" 2>&1 &
replay_pid=$!

if [[ -n ${DEMO_SECONDS:-} ]]; then
  sleep "$DEMO_SECONDS" &
  timer_pid=$!
  wait -n "$tail_pid" "$timer_pid" || true
  if ! is_running "$tail_pid"; then
    fail_with_log 'tail stopped before DEMO_SECONDS ended' "$log_dir/tail.log"
  fi
else
  wait "$tail_pid" || true
  fail_with_log 'tail stopped' "$log_dir/tail.log"
fi
