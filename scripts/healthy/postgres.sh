#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1 (run as the postgres user), with connection,
# checkpoint, autovacuum and slow-statement logging; exercised with pgbench and psql.
. "$(dirname "$0")/common.sh"
BIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PORT=${PGPORT:-15432}
P=$SCRATCH/pg; mkdir -p "$P"; chown postgres: "$P"; chmod 755 "$SCRATCH"   # the server runs as postgres
as_pg() { runuser -u postgres -- "$@"; }
capture postgres/initdb.log as_pg "$BIN/initdb" -D "$P/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8
as_pg "$BIN/pg_ctl" -D "$P/data" -l "$P/server.log" -w start -o "\
  -c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$P \
  -c log_connections=on -c log_disconnections=on -c log_checkpoints=on \
  -c log_autovacuum_min_duration=0 -c log_min_duration_statement=0 \
  -c log_line_prefix='%m [%p] %q%u@%d ' -c checkpoint_timeout=30s -c autovacuum_naptime=5s \
  -c max_connections=50"
trap 'as_pg "$BIN/pg_ctl" -D "$P/data" -m fast -w stop >/dev/null 2>&1' EXIT
PG="-h 127.0.0.1 -p $PORT -U postgres"
capture postgres/createdb.log as_pg "$BIN/createdb" $PG bench
capture postgres/pgbench-init.log as_pg "$BIN/pgbench" $PG -i -s 3 bench
capture postgres/pgbench-run.log as_pg "$BIN/pgbench" $PG -c 4 -j 2 -t ${TXNS:-2000} -P 5 bench
capture postgres/pgbench-select-only.log as_pg "$BIN/pgbench" $PG -S -c 8 -j 2 -t 500 -P 5 bench
capture postgres/psql-session.log as_pg "$BIN/psql" $PG -d bench -v ON_ERROR_STOP=1 -e <<'SQL'
create table if not exists orders (id bigserial primary key, customer int not null, total numeric(10,2), created timestamptz default now());
insert into orders (customer, total) select (random()*1000)::int, (random()*500)::numeric(10,2) from generate_series(1, 50000);
create index on orders (customer);
analyze orders;
select customer, count(*), sum(total) from orders group by customer order by 3 desc limit 5;
explain analyze select * from orders where customer = 42;
update orders set total = total * 1.1 where customer < 100;
delete from orders where customer > 990;
vacuum (verbose, analyze) orders;
checkpoint;
select datname, numbackends, xact_commit, xact_rollback from pg_stat_database where datname = 'bench';
SQL
sleep 6   # let autovacuum and a timed checkpoint log something
as_pg "$BIN/pg_ctl" -D "$P/data" -m fast -w stop
trap - EXIT
mkdir -p "$OUT/postgres"; cp "$P/server.log" "$OUT/postgres/server.log"
scrub "$OUT"/postgres/*.log
