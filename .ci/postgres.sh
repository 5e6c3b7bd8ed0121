#!/usr/bin/env bash
# A throwaway PostgreSQL server for the search tests (tests/test_search.py uses it).
#   .ci/postgres.sh install          apt-get install the Debian postgresql package (needs root)
#   .ci/postgres.sh start [PORT]     initdb a new cluster in a temporary directory, start it on
#                                    127.0.0.1:PORT (default: a free port), create a database;
#                                    prints "DIR URL" (the SQLAlchemy URL to give --storage)
#   .ci/postgres.sh stop DIR         stop that server and delete DIR
# PostgreSQL refuses to run as root: as root the server runs as the 'postgres' user.
set -euo pipefail

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$dir" ]]; then
        echo "postgres.sh: PostgreSQL is not installed (run: .ci/postgres.sh install)" >&2
        exit 2
    fi
    echo "$dir"
}

as_owner() {  # run a command as the cluster's owner
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
    install)
        if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >/dev/null
            apt-get install -y -qq postgresql >/dev/null
        fi
        ;;
    start)
        bin=$(pg_bin)
        port=${2:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
        dir=$(mktemp -d /tmp/glassnet-pg.XXXXXX)
        chmod 755 "$dir"
        if [[ $(id -u) -eq 0 ]]; then chown postgres "$dir"; fi
        as_owner "$bin/initdb" -D "$dir/data" -U glassnet --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U glassnet glassnet_test
        echo "$dir postgresql://glassnet@127.0.0.1:$port/glassnet_test"
        ;;
    stop)
        dir=${2:?usage: postgres.sh stop DIR}
        bin=$(pg_bin)
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
        rm -rf "$dir"
        ;;
    *)
        echo "usage: $0 install | start [PORT] | stop DIR" >&2
        exit 2
        ;;
esac
