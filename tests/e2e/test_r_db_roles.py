"""r. Database roles (issue 15): on the deployed PostgreSQL each service's login reads and writes rows of tables its
owner role made and changes no schema; a migration runs as the owner from the superuser's socket; the exporter
counts another session but never sees its query text, and still sizes every database for Prometheus; on restart
the bootstrap hands a table the service's login owned (the older layout) to the owner, disables a hand-made
superuser login and revokes pg_monitor, says so in the container's log, and on the next restart says nothing.

SQL as the superuser goes through `docker exec` over the container's socket (peer authentication, no password);
the service's and the exporter's logins through PostgreSQL's 127.0.0.1 port with verified TLS, passwords in the
environment only."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks.catalog import MONITORING_ROLE, POSTGRES_EXPORTER_PASSWORD, db_owner_role, db_password_secret
from tests.conftest import require_tool
from tests.e2e.live import Live, docker_exec, inspect, operator_tls, psql, published_port, wait_until_healthy

CONTAINER = "payment-postgres"
SERVICE = "order-service"
DATABASE = "payment_order"
CARD_NUMBER = "4111111111111111"
TABLE = "e2e_roles"
LEGACY_TABLE = "e2e_legacy"
FORGOTTEN_TABLE = "e2e_superuser_made"
"""Made by the superuser without `SET ROLE`: the next start hands it, and its sequence, to the owner."""
INTRUDER = "e2e_intruder"


def superuser(sql: str, database: str = "postgres", *statements: str) -> str:
    """`sql` (then each of `statements`, in the same session) as postgres over the container's socket."""
    commands = [arg for statement in (sql, *statements) for arg in ("-c", statement)]
    out = docker_exec(CONTAINER, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", database, *commands)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def as_service(deployed: Live, ca_file: Path, sql: str) -> subprocess.CompletedProcess[str]:
    password = deployed.generated_secrets()[db_password_secret(SERVICE)]
    return psql(deployed.outputs(), ca_file, DATABASE, DATABASE, password=password, query=sql)


@pytest.fixture
def scratch() -> Iterator[None]:
    """Whatever the tests below make by hand is gone afterwards, even after a failure."""
    yield
    superuser(f"DROP TABLE IF EXISTS {TABLE}, {LEGACY_TABLE}, {FORGOTTEN_TABLE}", DATABASE)
    superuser(f"DROP ROLE IF EXISTS {INTRUDER}")


def test_the_services_login_writes_rows_and_changes_no_schema(deployed: Live, ca_file: Path, scratch: None) -> None:
    owners = superuser(
        "SELECT string_agg(datname || ':' || pg_get_userbyid(datdba) || ':' || r.rolcanlogin, ',' ORDER BY datname) "
        "FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE datname LIKE 'payment\\_%'"
    )
    services = deployed.outputs()["services"]
    expected = sorted(f"{s['database']}:{db_owner_role(s['database'])}:false" for s in services.values())
    assert owners.split(",") == expected
    refused = as_service(deployed, ca_file, f"CREATE TABLE {TABLE} (amount integer)")
    assert refused.returncode != 0 and "permission denied for schema public" in refused.stderr, refused.stderr

    # A migration, as the README says to run one: the superuser's socket session becomes the owner.
    superuser(f'SET ROLE "{db_owner_role(DATABASE)}"', DATABASE, f"CREATE TABLE {TABLE} (id bigserial, amount integer)")
    for sql, expected_row in (
        (f"INSERT INTO {TABLE} (amount) VALUES (5) RETURNING amount", "5"),
        (f"UPDATE {TABLE} SET amount = 6 RETURNING amount", "6"),
        (f"SELECT sum(amount) FROM {TABLE}", "6"),
        (f"DELETE FROM {TABLE} RETURNING amount", "6"),
    ):
        done = as_service(deployed, ca_file, sql)
        assert done.returncode == 0 and done.stdout.split()[:1] == [expected_row], f"{sql}: {done.stderr}"
    for sql in (
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {TABLE} ADD COLUMN note text",
        f"TRUNCATE {TABLE}",
        "DROP SCHEMA public CASCADE",
        f'SET ROLE "{db_owner_role(DATABASE)}"',
    ):
        refused = as_service(deployed, ca_file, sql)
        assert refused.returncode != 0, f"{sql} was allowed"
        assert "must be owner" in refused.stderr or "permission denied" in refused.stderr, refused.stderr


def test_the_exporter_counts_a_session_but_never_reads_its_query(deployed: Live, ca_file: Path) -> None:
    outputs = deployed.outputs()
    secrets = deployed.generated_secrets()
    dsn = (
        f"host=127.0.0.1 port={published_port(outputs, 'postgres')} dbname={DATABASE} user={DATABASE} "
        f"sslmode=verify-full sslrootcert={ca_file}"
    )
    env = {**os.environ, "PGPASSWORD": secrets[db_password_secret(SERVICE)], "PGCONNECT_TIMEOUT": "5"}
    session = subprocess.Popen(
        [require_tool("psql", "postgresql-client"), dsn, "-XAtc", f"SELECT '{CARD_NUMBER}' AS pan, pg_sleep(60)"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%' || '4111' || '%'"
        deadline = time.monotonic() + 30
        while superuser(seen) != "1":
            assert time.monotonic() < deadline, "the card-number session never showed up in pg_stat_activity"
            time.sleep(0.5)
        activity = psql(
            outputs,
            ca_file,
            MONITORING_ROLE,
            "postgres",
            password=secrets[POSTGRES_EXPORTER_PASSWORD.name],
            query="SELECT usename || '|' || coalesce(query, '-') FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
        )
        assert activity.returncode == 0, activity.stderr
        assert CARD_NUMBER not in activity.stdout
        assert f"{DATABASE}|<insufficient privilege>" in activity.stdout.splitlines(), activity.stdout
    finally:
        session.terminate()
        session.wait(timeout=30)
        superuser(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE usename = '{DATABASE}' AND pid <> pg_backend_pid()"
        )


def test_prometheus_still_gets_every_database_size(deployed: Live, ca_file: Path, tmp_path: Path) -> None:
    """pg_database_size wants CONNECT or pg_read_all_stats; the exporter has only the former now."""
    outputs = deployed.outputs(show_secrets=True)
    context = operator_tls(outputs, ca_file, tmp_path)
    query = urllib.parse.urlencode({"query": "pg_database_size_bytes"})
    url = outputs["urls"]["prometheus"].rstrip("/") + f"/api/v1/query?{query}"
    wanted = {s["database"] for s in outputs["services"].values()}
    started, sized = time.monotonic(), set[str]()
    # The exporter restarted with nothing (its PostgreSQL may have just restarted): allow a few scrapes.
    while not wanted <= sized and time.monotonic() - started < 120:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            result = json.load(response)["data"]["result"]
        sized = {r["metric"].get("datname") for r in result if float(r["value"][1]) > 0}
        if not wanted <= sized:
            time.sleep(5)
    assert wanted <= sized, f"no size for {sorted(wanted - sized)}"
    deployed.results["databasesSizedByTheExporter"] = len(wanted)


def restart_postgres() -> tuple[str, float]:
    """`docker restart` (the start-up wrapper applies the bootstrap on every start): the container's log since this
    start, and the seconds until it was healthy again."""
    docker = require_tool("docker", "docker.io")
    subprocess.run([docker, "restart", CONTAINER], check=True, capture_output=True, timeout=120)
    seconds = wait_until_healthy([CONTAINER], timeout=180)
    since = inspect([CONTAINER])[0]["State"]["StartedAt"]
    logs = subprocess.run(
        [docker, "logs", "--since", since, CONTAINER], capture_output=True, text=True, timeout=60, check=True
    )
    return logs.stdout + logs.stderr, seconds


def test_a_restart_migrates_what_an_older_layout_left_and_says_so(deployed: Live, ca_file: Path, scratch: None) -> None:
    # What the bootstrap before issue 15 left, and what a hand added since.
    superuser(
        f"CREATE TABLE {LEGACY_TABLE} (amount integer)",
        DATABASE,
        f"INSERT INTO {LEGACY_TABLE} VALUES (42)",
        f"ALTER TABLE {LEGACY_TABLE} OWNER TO {DATABASE}",
        # A migration run as the superuser without `SET ROLE` to the owner.
        f"CREATE TABLE {FORGOTTEN_TABLE} (id serial PRIMARY KEY, amount integer)",
    )
    superuser(f"CREATE ROLE {INTRUDER} LOGIN SUPERUSER", "postgres", f"GRANT pg_monitor TO {MONITORING_ROLE}")

    log, seconds = restart_postgres()
    deployed.results["postgresRestartWithMigrationSeconds"] = round(seconds, 1)
    owner = db_owner_role(DATABASE)
    for line in (
        f"database {DATABASE}: table {LEGACY_TABLE} was owned by {DATABASE}: now owned by {owner}",
        f"database {DATABASE}: table {FORGOTTEN_TABLE} was owned by postgres: now owned by {owner}",
        f"role {INTRUDER} (superuser) is not a login of payment-platform: login disabled",
        f"role {MONITORING_ROLE} was a member of pg_monitor (granted by postgres): membership revoked",
    ):
        assert line in log, f"{line!r} not in the container's log:\n{log[-3000:]}"
    assert superuser(f"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = '{LEGACY_TABLE}'", DATABASE) == (
        owner
    )
    read = as_service(deployed, ca_file, f"SELECT amount FROM {LEGACY_TABLE}")
    assert read.returncode == 0 and read.stdout.strip() == "42", read.stderr
    assert superuser(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{INTRUDER}'") == "f"
    assert superuser(f"SELECT pg_has_role('{MONITORING_ROLE}', 'pg_monitor', 'MEMBER')") == "f"

    again, _ = restart_postgres()
    # psql prefixes what the bootstrap reports with the file's name (the server's own log lines do not).
    reported = [line for line in again.splitlines() if "bootstrap.sql" in line and "WARNING" in line]
    assert reported == [], f"the second start changed something: {reported}"
    assert "desired state applied" in again, again[-3000:]
