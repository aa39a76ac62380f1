#!/usr/bin/env bash
# serve.sh start|stop|status -- Superset (gunicorn) on 127.0.0.1:${SUPERSET_PORT:-8088}
set -euo pipefail
cd /tmp/superset-proto
source ./env.sh
PORT=${SUPERSET_PORT:-8088}
PIDFILE=/tmp/superset-proto/gunicorn.pid
case "${1:-}" in
start)
  if ss -ltn "sport = :$PORT" | grep -q LISTEN; then echo "port $PORT busy"; exit 1; fi
  t0=$(date +%s.%N)
  nohup gunicorn --pid "$PIDFILE" -w 2 -k gthread --threads 4 --timeout 120 \
      -b "127.0.0.1:$PORT" --access-logfile - --error-logfile - \
      "superset.app:create_app()" >> gunicorn.log 2>&1 &
  for i in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then
      echo "up: /health OK after $(python3 -c "print(round($(date +%s.%N)-$t0,1))")s (master $(cat $PIDFILE))"; exit 0; fi
    sleep 0.5
  done
  echo "no /health after 120s; see gunicorn.log"; exit 1 ;;
stop)
  [ -f "$PIDFILE" ] || { echo "no pidfile"; exit 0; }
  pid=$(cat "$PIDFILE"); kill "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { echo "stopped $pid"; exit 0; }; sleep 0.5; done
  echo "still running: $pid"; exit 1 ;;
status) ss -ltnp "sport = :$PORT" ;;
*) echo "usage: $0 start|stop|status"; exit 2 ;;
esac
