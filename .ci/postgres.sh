# Sourced by .ci/run: a throwaway PostgreSQL server on loopback for the store tests (the same
# suite runs on SQLite and PostgreSQL). Installs Debian's postgresql when the machine lacks it,
# starts a cluster in a temporary directory, exports RETAIN_TEST_POSTGRES, stops it on exit.
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "== installing PostgreSQL (Debian's postgresql package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
pg_dir="$(mktemp -d /tmp/retain-ci-pg.XXXXXX)"
pg_port="${RETAIN_CI_PG_PORT:-55432}"
# The server refuses to run as root: as root, run it as Debian's postgres user.
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pg_dir"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off" start >/dev/null
trap 'as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"' EXIT
export RETAIN_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port"
echo "== PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"
