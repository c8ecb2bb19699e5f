# Throwaway MariaDB on loopback, for tests and benchmarks. Source this file,
# then call `mariadb_start`; it sets MARIADB_PORT, MARIADB_URL (no schema),
# MARIADB_USER, MARIADB_PASSWORD and stops the server and removes its data
# when the calling shell exits.

mariadb_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mariadb_stop() {
  if [[ -n "${MARIADB_PID:-}" ]] && kill -0 "$MARIADB_PID" 2>/dev/null; then
    kill "$MARIADB_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$MARIADB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$MARIADB_PID" 2>/dev/null || true
  fi
  [[ -n "${MARIADB_DIR:-}" ]] && rm -rf "$MARIADB_DIR"
  MARIADB_PID=""
}

mariadb_start() {
  MARIADB_DIR=$(mktemp -d /tmp/perfflow-mariadb.XXXXXX)
  MARIADB_PORT=$(mariadb_free_port)
  MARIADB_USER=perfflow
  MARIADB_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  local sock="$MARIADB_DIR/mysqld.sock"
  trap mariadb_stop EXIT
  mariadb-install-db --no-defaults --datadir="$MARIADB_DIR/data" --user="$(id -un)" \
    --skip-test-db >"$MARIADB_DIR/install.log" 2>&1 || { cat "$MARIADB_DIR/install.log"; return 1; }
  # A redo log of 1 GiB, as a production server would keep (MariaDB's default
  # is 96 MiB): with 64 MiB a timer storm filled it every few seconds, and
  # the forced flushing stalled ingest commits (p99 181-248 ms against 34-58 ms
  # with 1 GiB, alternating on one server; docs/operations.md).
  /usr/sbin/mariadbd --no-defaults --datadir="$MARIADB_DIR/data" --socket="$sock" \
    --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --user="$(id -un)" \
    --pid-file="$MARIADB_DIR/mysqld.pid" --log-error="$MARIADB_DIR/error.log" \
    --skip-log-bin --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=1 \
    --innodb-log-file-size=1G --max-connections=400 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_bin &
  MARIADB_PID=$!
  for _ in $(seq 1 300); do
    if mariadb-admin --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1; then break; fi
    if ! kill -0 "$MARIADB_PID" 2>/dev/null; then cat "$MARIADB_DIR/error.log"; return 1; fi
    sleep 0.1
  done
  mariadb --no-defaults --socket="$sock" -uroot -e "
    CREATE USER '$MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$MARIADB_PASSWORD';
    GRANT ALL PRIVILEGES ON *.* TO '$MARIADB_USER'@'127.0.0.1';" || { cat "$MARIADB_DIR/error.log"; return 1; }
  MARIADB_SOCKET=$sock
  MARIADB_URL="mysql://$MARIADB_USER@127.0.0.1:$MARIADB_PORT"
  export MARIADB_PORT MARIADB_URL MARIADB_USER MARIADB_PASSWORD MARIADB_SOCKET
  echo "MariaDB $(mariadb --version | awk '{print $5}' | tr -d ,) on 127.0.0.1:$MARIADB_PORT (data $MARIADB_DIR)"
}
