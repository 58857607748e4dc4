#!/usr/bin/env bash
# Make sure Redis (and, with --postgres, PostgreSQL) answer on loopback; start them if they do not.
set -euo pipefail
REDIS_PORT="${REDIS_PORT:-6379}"
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "Starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/portico-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if [ "${1:-}" = "--postgres" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [ -z "$version" ]; then echo "PostgreSQL is not installed" >&2; exit 1; fi
    echo "Starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
  fi
  # Tests connect as postgres over TCP without a password (trust on loopback, as on CI machines).
  psql -h 127.0.0.1 -U postgres -tAc "select 1" >/dev/null
fi
