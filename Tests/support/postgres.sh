#!/usr/bin/env bash
# A throwaway PostgreSQL 15 in a temporary directory: unix socket only (no TCP port is opened),
# trust authentication inside a directory only its owner can enter.
#   source Tests/support/postgres.sh; pg_start; ...; pg_stop
# Tests get fast settings (fsync off: test data). Benchmarks call `pg_start default`: the server
# as a user's would be, with PostgreSQL's default settings (fsync on, shared_buffers 128MB, ...),
# and `pg_settings` prints what the server ran with.
# pg_start exports MOVIEREC_TEST_PG_ADMIN, a libpq URL for the superuser.
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$1"; else bash -c "$1"; fi
}

pg_start() {
    PG_DIR="$(mktemp -d /tmp/movierec-pg.XXXXXX)"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    PG_PORT="${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
    pg_as_owner "'$PG_BIN/initdb' -D '$PG_DIR/data' -U postgres -A trust -E UTF8 --no-sync >'$PG_DIR/initdb.log' 2>&1" \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    local settings="-c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=512MB -c max_wal_size=4GB"
    [ "${1:-}" = default ] && settings=""
    pg_as_owner "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -l '$PG_DIR/server.log' -w -t 60 start \
        -o \"-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -p $PG_PORT $settings\" >/dev/null" \
        || { cat "$PG_DIR/server.log" >&2; return 1; }
    export PG_DIR PG_PORT
    export MOVIEREC_TEST_PG_ADMIN="postgresql:///postgres?host=$PG_DIR&port=$PG_PORT&user=postgres"
    echo "postgres running in $PG_DIR (socket, port $PG_PORT)" >&2
}

# The settings that decide a benchmark's figures, as the server reports them.
pg_settings() {
    psql -qAtX "$MOVIEREC_TEST_PG_ADMIN" -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ' settings: ' || string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
        FROM pg_settings WHERE name IN ('fsync', 'full_page_writes', 'synchronous_commit', 'shared_buffers', 'max_wal_size',
            'work_mem', 'maintenance_work_mem', 'max_parallel_maintenance_workers', 'max_connections', 'wal_level')"
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] || return 0
    pg_as_owner "'$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m immediate -w stop >/dev/null 2>&1" || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
