# Starts throwaway PostgreSQL and Redis servers for the test run and exports their URLs.
# Sourced by .ci/run; usable by hand: `source .ci/services.sh && start_postgres && start_redis`.

PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
SERVICES_DIR="${SERVICES_DIR:-/tmp/commerce-supergraph-services}"

start_postgres() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  local data="$SERVICES_DIR/pg"
  mkdir -p "$SERVICES_DIR"
  if ! id postgres >/dev/null 2>&1; then useradd --system --home "$SERVICES_DIR" postgres; fi
  chown postgres "$SERVICES_DIR"
  if [ ! -f "$data/PG_VERSION" ]; then
    su postgres -s /bin/sh -c "'$bin/initdb' -D '$data' -U postgres --auth=trust -E UTF8 >/dev/null"
  fi
  if ! su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
    su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$data' -l '$SERVICES_DIR/pg.log' -w \
      -o \"-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off\" start" >/dev/null
  fi
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "PostgreSQL: $TEST_DATABASE_URL"
}

start_redis() {
  mkdir -p "$SERVICES_DIR"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
      --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log"
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  echo "Redis: $TEST_REDIS_URL"
}
