#!/usr/bin/env bash
# Make sure the local PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) that `make test` uses
# answer, starting whichever is installed but down. A DATABASE_URL / REDIS_URL naming another server
# is left to whoever runs it. Exits non-zero, saying what is missing, when a service can't be had.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=20

failures=()

say() { printf '%s\n' "$*"; }
fail() {
    printf 'ensure-services: %s\n' "$*" >&2
    failures+=("$1")
}

# "host port" of a URL such as postgres://user:pw@host:5432/db, with $2 when it names no port.
url_host_port() {
    local rest=${1#*://}
    rest=${rest%%/*}
    rest=${rest%%\?*}
    rest=${rest##*@}
    if [[ $rest == *:* ]]; then
        printf '%s %s\n' "${rest%:*}" "${rest##*:}"
    else
        printf '%s %s\n' "$rest" "$2"
    fi
}

# True when the URL (if set) names the local default server this script manages.
is_local_default() {
    local url=$1 default_port=$2 host port
    [[ -z $url ]] && return 0
    read -r host port < <(url_host_port "$url" "$default_port")
    [[ ($host == 127.0.0.1 || $host == localhost) && $port == "$default_port" ]]
}

# Poll `$@` every half second for up to WAIT_SECONDS.
wait_for() {
    local tries=$((WAIT_SECONDS * 2))
    while ((tries-- > 0)); do
        "$@" && return 0
        sleep 0.5
    done
    return 1
}

# --- PostgreSQL ---------------------------------------------------------------------------------

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

pg_role_connects() {
    PGCONNECT_TIMEOUT=5 psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc 'SELECT 1' \
        >/dev/null 2>&1
}

ensure_postgres() {
    local url=${DATABASE_URL:-}
    if [[ -n $url && $url != postgres* ]]; then
        say "PostgreSQL: skipped (DATABASE_URL is not PostgreSQL)"
        return
    fi
    if ! is_local_default "$url" "$PG_PORT"; then
        say "PostgreSQL: skipped (DATABASE_URL names another server)"
        return
    fi
    if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
        fail "PostgreSQL client tools (pg_isready, psql) are missing;" \
            "install PostgreSQL 15+: apt-get install -y postgresql"
        return
    fi
    if ! pg_ready; then
        local status=0
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" || status=$?
        if ((status == 2)); then # no response: not running
            if ! command -v pg_ctlcluster >/dev/null; then
                fail "PostgreSQL is not running and not installed (no pg_ctlcluster);" \
                    "install it: apt-get install -y postgresql"
                return
            fi
            local version
            version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
            if [[ -z $version ]]; then
                fail "PostgreSQL is not running and has no cluster under /etc/postgresql;" \
                    "install it: apt-get install -y postgresql"
                return
            fi
            say "PostgreSQL: not answering on $PG_HOST:$PG_PORT; starting cluster $version/main"
            pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
                say "PostgreSQL: pg_ctlcluster start exited non-zero; waiting anyway"
        fi
        if ! wait_for pg_ready; then
            fail "PostgreSQL did not answer on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s;" \
                "see /var/log/postgresql/"
            return
        fi
    fi
    if ! wait_for pg_role_connects; then
        fail "PostgreSQL answers but role 'postgres' cannot connect to $PG_HOST:$PG_PORT;" \
            "allow it in pg_hba.conf (trust for 127.0.0.1/32 and ::1/128)"
        return
    fi
    # pytest-django creates test_<name> itself; the named database only has to exist so that
    # `makemigrations --check` can compare the migration history instead of warning.
    local name=${url##*/}
    name=${name%%\?*}
    name=${name:-crisis_api}
    if [[ $name =~ ^[A-Za-z0-9_]+$ ]] &&
        [[ -z $(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -Atqc \
            "SELECT 1 FROM pg_database WHERE datname = '$name'") ]]; then
        say "PostgreSQL: creating database $name"
        createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$name" ||
            say "PostgreSQL: could not create database $name (makemigrations will only warn)"
    fi
    say "PostgreSQL: ok ($PG_HOST:$PG_PORT, role postgres, database $name)"
}

# --- Redis --------------------------------------------------------------------------------------

redis_ready() { [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

ensure_redis() {
    local url=${REDIS_URL:-}
    if ! is_local_default "$url" "$REDIS_PORT"; then
        say "Redis: skipped (REDIS_URL names another server)"
        return
    fi
    if ! command -v redis-cli >/dev/null; then
        fail "redis-cli is missing; install Redis 7: apt-get install -y redis-server"
        return
    fi
    if ! redis_ready; then
        if ! command -v redis-server >/dev/null; then
            fail "Redis is not running and not installed (no redis-server);" \
                "install it: apt-get install -y redis-server"
            return
        fi
        say "Redis: not answering on $REDIS_HOST:$REDIS_PORT; starting redis-server"
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log ||
            say "Redis: redis-server exited non-zero; waiting anyway"
        if ! wait_for redis_ready; then
            fail "Redis did not answer on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECONDS}s;" \
                "see /var/log/redis/ci.log"
            return
        fi
    fi
    say "Redis: ok ($REDIS_HOST:$REDIS_PORT)"
}

ensure_postgres
ensure_redis
if ((${#failures[@]})); then
    printf 'ensure-services: %d service(s) unavailable, see above\n' "${#failures[@]}" >&2
    exit 1
fi
