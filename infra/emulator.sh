#!/usr/bin/env bash
# Starts or stops moto's server on 127.0.0.1:PORT.
#   infra/emulator.sh start PORT   no-op if an AWS emulator (moto or LocalStack) already answers
#   infra/emulator.sh stop PORT    stops the one this script started
set -euo pipefail
cmd="${1:?start|stop}"
port="${2:-4566}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
state="$root/.local"
pidfile="$state/moto-$port.pid"
mkdir -p "$state"

answers() {
  # moto answers /moto-api/, LocalStack /_localstack/health; any HTTP answer on the port will do.
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null
}

case "$cmd" in
  start)
    if answers; then
      echo "emulator: already answering on 127.0.0.1:$port"
      exit 0
    fi
    nohup "$venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$port" >"$state/moto-$port.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if answers; then
        echo "emulator: moto listening on 127.0.0.1:$port (log $state/moto-$port.log)"
        exit 0
      fi
      sleep 0.1
    done
    echo "emulator: moto did not start; see $state/moto-$port.log" >&2
    exit 1
    ;;
  stop)
    if [[ -f "$pidfile" ]]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      echo "emulator: stopped"
    fi
    ;;
  *)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
