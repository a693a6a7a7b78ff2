"""PostgreSQL: the generated bootstrap, pg_hba.conf and settings, checked against a real server.

The real-server tests run Debian's PostgreSQL (installed by .ci/run) with exactly the generated
pg_hba.conf, TLS settings and bootstrap SQL, and a server certificate issued by the faithful PKI model.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.data.postgres import (
    Postgres,
    PostgresArgs,
    PostgresPaths,
    apply_command,
    bootstrap_sql,
    connection_limits,
    pg_hba,
    pg_size,
    server_settings,
    service_environment,
)
from components.docker.files import ContainerFiles
from components.observability.metrics import POSTGRES_EXPORTER as POSTGRES_EXPORTER_METRICS
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from plan import Render
from plan.engine import run_program
from stacks.catalog import APP_UID, MONITORING_GRANTS, MONITORING_ROLE, SERVICES, db_owner_role, db_password_secret
from stacks.models import PlatformConfig, Service
from stacks.units import ByteSize
from tests.conftest import docker_host, faithful, free_port, require_tool, stack_config, unavailable
from tests.conftest import uploads as container_uploads
from vocabulary import CONTAINER, LOCALLY_SIGNED_CERT, PRIVATE_KEY, SECRET, VOLUME


def platform_config(stack: str, **values: Any) -> PlatformConfig:
    return stack_config(stack, **values)


# --- pure builders ----------------------------------------------------------------------------------


def test_sizes_use_postgres_units() -> None:
    assert [pg_size(ByteSize.parse(s)) for s in ("2G", "256M", "1536M", "64K", "1500K")] == [
        "2GB",
        "256MB",
        "1536MB",
        "64kB",
        "1500kB",
    ]


def test_settings_turn_tls_on_and_follow_the_profile() -> None:
    settings = server_settings(platform_config("prod").data.postgres, PostgresPaths())
    assert (settings["ssl"], settings["ssl_min_protocol_version"]) == ("on", "TLSv1.2")
    assert (settings["max_connections"], settings["shared_buffers"]) == ("400", "2GB")
    assert settings["password_encryption"] == "scram-sha-256"
    assert settings["hba_file"] == "/etc/postgresql/pg_hba.conf"


def test_bootstrap_sql_has_no_secret_and_covers_every_service() -> None:
    config = platform_config("dev")
    sql = bootstrap_sql(config.services, 200, PostgresPaths())
    for service in SERVICES:
        assert f"CREATE DATABASE %I OWNER %I', '{service.database}'" in sql
        assert f"cat /run/secrets/db-password-{service.name}`" in sql
    assert "PASSWORD :'pw'" in sql and "PASSWORD '" not in sql


def test_connection_limits_share_the_server_by_container() -> None:
    config = platform_config("prod")
    limits = connection_limits(config.services, 400)
    assert limits["payment_gateway"] == 3 * limits["payment_order"]
    assert sum(limits.values()) <= 400 - 8


# --- the component under the engine -------------------------------------------------------------------


def build(config: PlatformConfig, monitor: object = None) -> Render:
    def program() -> None:
        host = docker_host(config)
        pki = Pki("payment-pki", PkiArgs(config=config.pki, domain=config.network.name))
        vault = Secrets("payment-secrets", SecretsArgs(config=config.secrets))
        Postgres(
            "payment-postgres",
            PostgresArgs(
                infra=config.infra("postgres"),
                tuning=config.data.postgres,
                services=config.services,
                host=host,
                passwords=vault.values,
                certificate=pki.certificates["postgres"],
                trust_bundle=pki.trust_bundle,
            ),
        )
        # What Platform gives a service of the database: the contract, and its own password.
        order = config.service("order-service")
        files = ContainerFiles(env=service_environment(order, config.infra("postgres"))) + vault.files(
            db_password_secret(order.name), APP_UID
        )
        pulumi.export("orderEnv", files.env)

    return run_program(program, config.project, config.stack)


@functools.cache
def built(stack: str) -> Render:
    return build(platform_config(stack))


def test_container_shape_in_both_stacks() -> None:
    for stack, ports in (
        ("dev", [{"external": 40432, "internal": 5432, "ip": "127.0.0.1", "protocol": "tcp"}]),
        ("prod", []),
    ):
        postgres = built(stack).get(CONTAINER, "payment-postgres-container").inputs
        assert postgres["name"] == "payment-postgres"
        assert postgres["user"] == "999:999"
        assert postgres["networksAdvanced"][0]["aliases"] == ["postgres", "postgres.payment-network"]
        assert [
            {k: p[k] for k in ("external", "internal", "ip", "protocol") if k in p} for p in postgres.get("ports", [])
        ] == ports
        assert "POSTGRES_PASSWORD_FILE=/run/secrets/postgres-superuser-password" in postgres["envs"]
        assert postgres["wait"] is True
        assert postgres["entrypoints"] == ["/opt/payment/start"]
        assert postgres["readOnly"] is True
        assert set(postgres["tmpfs"]) == {"/tmp", "/var/run/postgresql"}
        mounts = {m["target"]: m for m in postgres["mounts"]}
        assert set(mounts) == {"/etc/postgresql", "/opt/payment", "/run/secrets"}
        # One volume per folder, mounted whole: no volume subpaths (Docker 26), so Docker 24 runs it.
        assert all(m["readOnly"] and "volumeOptions" not in m for m in mounts.values())
        assert {t: m["source"] for t, m in mounts.items()} == {
            "/etc/postgresql": "payment-postgres-files-etc-postgresql",
            "/opt/payment": "payment-postgres-files-opt-payment",
            "/run/secrets": "payment-postgres-files-run-secrets",
        }
        assert postgres["volumes"] == [{"containerPath": "/var/lib/postgresql", "volumeName": "payment-postgres-data"}]


def test_data_volume_is_retained_everywhere_and_protected_in_prod() -> None:
    for stack, protect in (("dev", False), ("prod", True)):
        volume = built(stack).get(VOLUME, "postgres-data")
        assert (volume.retain_on_delete, volume.protect) == (True, protect)
        assert volume.inputs["name"] == "payment-postgres-data"


def test_secrets_travel_only_in_secret_uploads() -> None:
    postgres = built("prod").get(CONTAINER, "payment-postgres-container")
    uploads = {u["file"]: u for u in container_uploads(built("prod"), "payment-postgres-container")}
    secret_files = {f for f, u in uploads.items() if u["content"] == SECRET}
    assert secret_files == {
        "/run/secrets/postgres-superuser-password",
        "/run/secrets/postgres-exporter-password",
        "/etc/postgresql/tls/server.key",
        *(f"/run/secrets/db-password-{s.name}" for s in SERVICES),
    }
    assert all(uploads[f]["permissions"] == "0400" and uploads[f]["owner"] == "999" for f in secret_files)
    assert uploads["/etc/postgresql/bootstrap.sql"]["content"].startswith("-- Generated by payment-platform")
    text = str({k: v for k, v in postgres.inputs.items() if k != "uploads"})
    assert SECRET not in text  # command, healthcheck, env and labels carry no secret


def test_services_get_their_own_database_and_never_the_superuser_password() -> None:
    env = built("prod").outputs["orderEnv"]
    assert env["DB_HOST"] == "postgres.payment-network"
    assert (env["DB_NAME"], env["DB_USER"], env["DB_SSLMODE"]) == ("payment_order", "payment_order", "verify-full")
    assert env["DB_PASSWORD_FILE"] == "/run/secrets/db-password-order-service"
    assert env["DB_SSLROOTCERT"] == "/app/certs/ca/ca-cert.pem"
    assert not any("superuser" in str(value) for value in env.values())


# --- a real PostgreSQL ----------------------------------------------------------------------------------


@dataclass
class Server:
    base: Path
    paths: PostgresPaths
    port: int
    ca_file: Path
    passwords: dict[str, str]

    def bootstrap(self, services: Sequence[Service] | None = None) -> subprocess.CompletedProcess[str]:
        chosen = SERVICES_CONFIG.services if services is None else services
        Path(self.paths.bootstrap_sql).write_text(bootstrap_sql(chosen, 200, self.paths), encoding="utf-8")
        return as_postgres(["sh", "-c", apply_command(self.paths)], env={"PGPORT": str(self.port)})

    def set_password(self, secret: str, value: str) -> None:
        path = Path(self.paths.secrets_dir) / secret
        path.chmod(0o600)
        path.write_text(value, encoding="utf-8")
        path.chmod(0o400)
        self.passwords[secret] = value

    def connect(
        self,
        user: str,
        database: str,
        password: str,
        sslmode: str = "verify-full",
        sql: str = "select current_user || '@' || current_database()",
    ) -> subprocess.CompletedProcess[str]:
        """`sql` as `user` over TCP and TLS, as a service connects (one statement per `psql -c`)."""
        dsn = (
            f"host=localhost port={self.port} dbname={database} user={user} "
            f"sslmode={sslmode} sslrootcert={self.ca_file} connect_timeout=5"
        )
        return subprocess.run(
            ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PGPASSWORD": password, "HOME": str(self.base)},
        )

    def login(self, service: str, sql: str) -> subprocess.CompletedProcess[str]:
        """`sql` as the service's runtime role (its DB_USER) on its own database."""
        database = SERVICES_CONFIG.service(service).database
        return self.connect(database, database, self.passwords[db_password_secret(service)], sql=sql)

    def answer(self, service: str, sql: str) -> str:
        """The first value `sql` returns as the service's runtime role, which must be allowed to run it."""
        result = self.login(service, sql)
        assert result.returncode == 0, f"{sql}: {result.stderr}"
        assert result.stdout.split(), f"{sql}: no value returned"
        return result.stdout.split()[0]

    def query(self, sql: str, database: str = "postgres") -> str:
        result = self.superuser(sql, database)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def superuser(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        """`sql` (a script: psql meta-commands allowed) as postgres over the socket, as an operator's migration."""
        socket = ["-h", self.paths.socket_dir, "-p", str(self.port), "-U", "postgres", "-d", database]
        return as_postgres(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", *socket, "-f", "-"], stdin=sql)


SERVICES_CONFIG = platform_config("dev")


def as_postgres(
    argv: list[str], env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """A fresh PostgreSQL cluster with the program's settings, pg_hba.conf, certificate and password files; nothing
    applied yet."""
    require_tool("psql", "postgresql")
    bindir = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    if bindir is None:
        unavailable("PostgreSQL server binaries not found: install Debian's postgresql (.ci/run does)")
    if os.geteuid() != 0:
        unavailable("needs root, to run the server as the postgres user that the generated pg_hba.conf peers with")
    owner = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="payment-pg-"))
    base.chmod(0o755)
    paths = PostgresPaths(
        config_dir=str(base / "conf"), secrets_dir=str(base / "secrets"), socket_dir=str(base / "sock")
    )
    for folder in (base / "data", base / "conf" / "tls", base / "secrets", base / "sock"):
        folder.mkdir(parents=True)
    for folder in (base / "data", base / "conf", base / "conf" / "tls", base / "secrets", base / "sock"):
        os.chown(folder, owner.pw_uid, owner.pw_gid)

    rendered = faithful("dev")
    cert = rendered.get(LOCALLY_SIGNED_CERT, "payment-pki-postgres-cert")
    key = rendered.get(PRIVATE_KEY, "payment-pki-postgres-key")
    files = {
        paths.hba_file: (pg_hba(), 0o444),
        paths.cert_file: (cert.revealed_outputs["certPem"], 0o444),
        paths.key_file: (key.revealed_outputs["privateKeyPem"], 0o400),
        paths.ca_file: (rendered.outputs["caBundle"], 0o444),
    }
    passwords = {
        "postgres-superuser-password": secrets.token_urlsafe(24),
        "postgres-exporter-password": secrets.token_urlsafe(24),
    }
    passwords |= {f"db-password-{s.name}": secrets.token_urlsafe(24) for s in SERVICES}
    files |= {f"{paths.secrets_dir}/{name}": (value, 0o400) for name, value in passwords.items()}
    for path, (content, mode) in files.items():
        Path(path).write_text(str(content), encoding="utf-8")
        os.chown(path, owner.pw_uid, owner.pw_gid)
        Path(path).chmod(mode)
    ca_file = base / "client-ca.pem"
    ca_file.write_text(str(rendered.outputs["caBundle"]), encoding="utf-8")

    init = as_postgres(
        [
            str(bindir / "initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
        ]
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    settings = server_settings(SERVICES_CONFIG.data.postgres, paths) | {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": paths.socket_dir,
    }
    flags = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    prefix = ["runuser", "-u", "postgres", "--"]
    with open(base / "server.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [*prefix, str(bindir / "postgres"), "-D", str(base / "data"), *flags], stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], check=False).returncode:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"PostgreSQL did not start:\n{(base / 'server.log').read_text()}")
                time.sleep(0.3)
            yield Server(base=base, paths=paths, port=port, ca_file=ca_file, passwords=passwords)
        finally:
            # A fast shutdown (pg_ctl signals the server itself; runuser does not pass SIGINT on): the default
            # smart shutdown on SIGTERM waits seconds for sessions this test no longer needs.
            as_postgres([str(bindir / "pg_ctl"), "stop", "-m", "fast", "-D", str(base / "data")])
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """A server the bootstrap was applied to once, on an empty volume: it must report nothing there."""
    with running_server() as server:
        first = server.bootstrap()
        assert first.returncode == 0, first.stderr
        assert first.stderr == ""
        yield server


@pytest.mark.tool("postgresql")
def test_bootstrap_runs_twice_and_yields_every_database_and_role(server: Server) -> None:
    again = server.bootstrap()
    assert again.returncode == 0, again.stderr
    assert again.stderr == "", "a second apply changed (and reported) something"
    rows = server.query(
        "select d.datname || ':' || pg_get_userbyid(d.datdba) from pg_database d where d.datname like 'payment_%' "
        "order by 1"
    ).splitlines()
    assert rows == sorted(f"{s.database}:{db_owner_role(s.database)}" for s in SERVICES)
    assert server.query(
        "select count(*) from pg_roles where rolname like 'payment_%' and rolname <> 'payment_monitoring' "
        "and rolcanlogin "
        "and not rolsuper and not rolcreatedb and not rolcreaterole"
    ) == str(len(SERVICES))
    owners = ", ".join(f"'{db_owner_role(s.database)}'" for s in SERVICES)
    assert server.query(
        # pg_authid, not pg_roles: pg_roles shows every password as ********.
        f"select count(*) from pg_authid where rolname in ({owners}) and not rolcanlogin and not rolsuper "
        "and not rolcreatedb and not rolcreaterole and not rolbypassrls and rolpassword is null"
    ) == str(len(SERVICES))
    # Nobody is a member of an owner role: no login can `SET ROLE` to one (the superuser needs no membership).
    assert server.query(f"select count(*) from pg_auth_members where roleid::regrole::text in ({owners})") == "0"


@pytest.mark.tool("postgresql")
def test_each_role_reaches_its_own_database_only_over_tls(server: Server) -> None:
    password = server.passwords["db-password-order-service"]
    own = server.connect("payment_order", "payment_order", password)
    assert own.returncode == 0, own.stderr
    assert own.stdout.strip() == "payment_order@payment_order"
    other = server.connect("payment_order", "payment_risk", password)
    assert other.returncode != 0
    assert "pg_hba.conf rejects connection" in other.stderr
    # and the grant layer agrees, should pg_hba.conf ever be loosened
    assert server.query("select has_database_privilege('payment_order', 'payment_risk', 'CONNECT')") == "f"
    plain = server.connect("payment_order", "payment_order", password, sslmode="disable")
    assert plain.returncode != 0
    wrong = server.connect("payment_order", "payment_order", "not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


@pytest.mark.tool("postgresql")
def test_the_superuser_cannot_log_in_over_the_network(server: Server) -> None:
    result = server.connect("postgres", "postgres", server.passwords["postgres-superuser-password"])
    assert result.returncode != 0
    assert "rejects connection" in result.stderr or "no pg_hba.conf entry" in result.stderr


@pytest.mark.tool("postgresql")
def test_rotation_on_an_existing_volume_switches_the_password(server: Server) -> None:
    old = server.passwords["db-password-kyc-service"]
    new = secrets.token_urlsafe(24)
    server.set_password("db-password-kyc-service", new)
    os.chown(Path(server.paths.secrets_dir) / "db-password-kyc-service", pwd.getpwnam("postgres").pw_uid, -1)
    applied = server.bootstrap()
    assert applied.returncode == 0, applied.stderr
    assert server.connect("payment_kyc", "payment_kyc", old).returncode != 0
    assert server.connect("payment_kyc", "payment_kyc", new).returncode == 0


@pytest.mark.tool("postgresql")
def test_a_service_that_leaves_the_catalog_keeps_its_data_but_not_its_login(server: Server) -> None:
    remaining = tuple(s for s in SERVICES_CONFIG.services if s.name != "dispute-service")
    applied = server.bootstrap(remaining)
    assert applied.returncode == 0, applied.stderr
    assert "payment_dispute is no longer in the catalog" in applied.stderr
    assert server.query("select rolcanlogin from pg_roles where rolname = 'payment_dispute'") == "f"
    assert server.query("select count(*) from pg_database where datname = 'payment_dispute'") == "1"
    restored = server.bootstrap()
    assert restored.returncode == 0, restored.stderr
    assert server.query("select rolcanlogin from pg_roles where rolname = 'payment_dispute'") == "t"


@pytest.mark.tool("postgresql")
def test_passwords_never_reach_the_server_log(server: Server) -> None:
    log = (server.base / "server.log").read_text(encoding="utf-8")
    for value in server.passwords.values():
        assert value not in log


# --- least privilege: the runtime role, the owner, the monitoring role -------------------------------------------

RUNTIME_SERVICE = "order-service"
ORDERS = "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, amount integer NOT NULL);"
LEDGER = (
    "CREATE SCHEMA IF NOT EXISTS ledger; "
    "CREATE TABLE IF NOT EXISTS ledger.entries (id bigserial PRIMARY KEY, amount integer NOT NULL);"
)
DDL_REFUSED = ("must be owner", "permission denied", "must have admin option")


def migrate(server: Server, service: str, sql: str) -> None:
    """A migration as the README tells operators to run one: superuser socket session, `SET ROLE` to the owner."""
    database = SERVICES_CONFIG.service(service).database
    result = server.superuser(f'SET ROLE "{db_owner_role(database)}";\n{sql}', database)
    assert result.returncode == 0, result.stderr


@pytest.mark.tool("postgresql")
def test_the_runtime_role_reads_and_writes_rows_of_the_owners_tables(server: Server) -> None:
    migrate(server, RUNTIME_SERVICE, ORDERS)
    # After a bootstrap (as after every restart) the table made before it stays usable.
    assert server.bootstrap().stderr == ""
    # A table in a new schema, made after the bootstrap: default privileges cover schema, table and sequence.
    migrate(server, RUNTIME_SERVICE, LEDGER)
    for table in ("orders", "ledger.entries"):
        for sql, expected in (
            (f"INSERT INTO {table} (amount) VALUES (10) RETURNING amount", "10"),
            (f"UPDATE {table} SET amount = 11 RETURNING amount", "11"),
            (f"SELECT sum(amount) FROM {table}", "11"),
            (f"DELETE FROM {table} RETURNING amount", "11"),
        ):
            assert server.answer(RUNTIME_SERVICE, sql) == expected, sql
    owner = db_owner_role(SERVICES_CONFIG.service(RUNTIME_SERVICE).database)
    assert (
        server.query(
            "select string_agg(distinct pg_get_userbyid(relowner), ',') from pg_class "
            "where relname in ('orders', 'orders_id_seq', 'entries', 'entries_id_seq')",
            "payment_order",
        )
        == owner
    )


@pytest.mark.tool("postgresql")
@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE orders",
        "ALTER TABLE orders ADD COLUMN note text",
        "ALTER TABLE orders OWNER TO payment_order",
        "CREATE TABLE scratch (x integer)",
        "CREATE SCHEMA scratch",
        "DROP SCHEMA public CASCADE",
        "DROP SCHEMA ledger CASCADE",
        "TRUNCATE orders",
        "CREATE INDEX orders_amount ON orders (amount)",
        "SELECT setval('orders_id_seq', 1)",
        "SET ROLE payment_order_owner",
        "GRANT payment_order_owner TO payment_order",
        "ALTER DATABASE payment_order RENAME TO payment_gone",
    ],
)
def test_the_runtime_role_cannot_change_the_schema_or_become_the_owner(server: Server, sql: str) -> None:
    migrate(server, RUNTIME_SERVICE, ORDERS + LEDGER)
    refused = server.login(RUNTIME_SERVICE, sql)
    assert refused.returncode != 0, f"{sql} was allowed"
    assert any(reason in refused.stderr for reason in DDL_REFUSED), refused.stderr


CARD_NUMBER = "4111111111111111"
"""A test card number, written as a literal in another role's query (how one once showed up to the metrics)."""


@pytest.mark.tool("postgresql")
def test_the_monitoring_role_cannot_read_another_sessions_query_text(server: Server) -> None:
    database = SERVICES_CONFIG.service(RUNTIME_SERVICE).database
    dsn = (
        f"host=localhost port={server.port} dbname={database} user={database} "
        f"sslmode=verify-full sslrootcert={server.ca_file}"
    )
    env = {**os.environ, "PGPASSWORD": server.passwords[db_password_secret(RUNTIME_SERVICE)]}
    session = subprocess.Popen(
        ["psql", "-X", "-At", dsn, "-c", f"SELECT '{CARD_NUMBER}' AS pan, pg_sleep(60)"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The superuser sees the literal: the session is running, and the check below could fail.
        seen = "select count(*) from pg_stat_activity where pid <> pg_backend_pid() and query like '%' || '4111' || '%'"
        deadline = time.monotonic() + 20
        while server.query(seen) != "1":
            assert time.monotonic() < deadline, "the card-number session never showed up in pg_stat_activity"
            time.sleep(0.2)
        password = server.passwords["postgres-exporter-password"]
        activity = server.connect(
            MONITORING_ROLE,
            "postgres",
            password,
            sql="select usename || '|' || coalesce(state, '-') || '|' || coalesce(query, '-') "
            "from pg_stat_activity where pid <> pg_backend_pid() and usename is not null",
        )
        assert activity.returncode == 0, activity.stderr
        assert CARD_NUMBER not in activity.stdout
        # It still counts the session (what pg_stat_database_numbackends and the activity counts need).
        assert f"{database}|-|<insufficient privilege>" in activity.stdout.splitlines(), activity.stdout
        assert server.query(f"select pg_has_role('{MONITORING_ROLE}', 'pg_read_all_stats', 'USAGE')") == "f"
        # pg_stat_statements, the other place query text is kept, is not loaded by the program's settings; were it
        # loaded, the same predefined role would gate its query column.
        assert "pg_stat_statements" not in str(server_settings(SERVICES_CONFIG.data.postgres, server.paths))
    finally:
        session.terminate()
        session.wait(timeout=30)
        server.query(f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{database}'")


STAT_DATABASE_QUERY = (
    "SELECT datid, datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched, "
    "tup_inserted, tup_updated, tup_deleted, conflicts, temp_files, temp_bytes, deadlocks, blk_read_time, "
    "blk_write_time, stats_reset FROM pg_stat_database"
)
EXPORTER_QUERIES: dict[str, str] = {
    # postgres_exporter's stat_database collector.
    **{metric: STAT_DATABASE_QUERY for metric in POSTGRES_EXPORTER_METRICS if metric.startswith("pg_stat_database_")},
    # Its database collector: every database's name, then pg_database_size of each.
    "pg_database_size_bytes": "SELECT datname, pg_database_size(datname) FROM pg_database",
    # Its settings collector.
    "pg_settings_max_connections": "SELECT name, setting, COALESCE(unit, ''), short_desc, vartype FROM pg_settings "
    "WHERE vartype IN ('bool', 'integer', 'real') AND name != 'sync_commit_cancel_wait'",
    # Its locks collector.
    "pg_locks_count": "SELECT pg_database.datname, tmp.mode, COALESCE(count, 0) FROM (VALUES ('accesssharelock'), "
    "('rowsharelock'), ('rowexclusivelock'), ('shareupdateexclusivelock'), ('sharelock'), ('sharerowexclusivelock'), "
    "('exclusivelock'), ('accessexclusivelock'), ('sireadlock')) AS tmp(mode) CROSS JOIN pg_database LEFT JOIN "
    "(SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks WHERE database IS NOT NULL "
    "GROUP BY database, lower(mode)) AS tmp2 ON tmp.mode = tmp2.mode AND pg_database.oid = tmp2.database ORDER BY 1",
    # Its default metric map's activity counts by state (not on a dashboard, but exported).
    "pg_stat_activity_count": "SELECT pg_database.datname, tmp.state, COALESCE(count, 0) FROM (VALUES ('active'), "
    "('idle'), ('idle in transaction')) AS tmp(state) CROSS JOIN pg_database LEFT JOIN (SELECT datname, state, "
    "count(*) AS count FROM pg_stat_activity GROUP BY datname, state) AS tmp2 ON tmp.state = tmp2.state "
    "AND pg_database.datname = tmp2.datname",
}
"""The queries postgres_exporter sends for the metrics the dashboards and alerts read (collector/*.go of the pinned
version), by metric."""


@pytest.mark.tool("postgresql")
def test_the_exporters_queries_still_work_as_the_monitoring_role(server: Server) -> None:
    assert set(POSTGRES_EXPORTER_METRICS) - {"pg_up"} <= set(EXPORTER_QUERIES)
    password = server.passwords["postgres-exporter-password"]
    for metric, sql in EXPORTER_QUERIES.items():
        result = server.connect(MONITORING_ROLE, "postgres", password, sql=sql)
        assert result.returncode == 0, f"{metric}: {result.stderr}"
        assert result.stdout.strip(), f"{metric}: no rows"
    sizes = server.connect(MONITORING_ROLE, "postgres", password, sql=EXPORTER_QUERIES["pg_database_size_bytes"])
    sized = {line.split("|")[0] for line in sizes.stdout.splitlines() if int(line.split("|")[1]) > 0}
    assert {s.database for s in SERVICES} <= sized
    assert (
        "max_connections|200|"
        in server.connect(
            MONITORING_ROLE, "postgres", password, sql=EXPORTER_QUERIES["pg_settings_max_connections"]
        ).stdout
    )


@pytest.mark.tool("postgresql")
def test_the_exporter_reaches_the_maintenance_database_and_no_data(server: Server) -> None:
    password = server.passwords["postgres-exporter-password"]
    own = server.connect(MONITORING_ROLE, "postgres", password)
    assert own.returncode == 0, own.stderr
    assert server.query(
        f"select string_agg(b.rolname, ',' order by b.rolname) from pg_auth_members m "
        f"join pg_roles b on b.oid = m.roleid where m.member = '{MONITORING_ROLE}'::regrole"
    ) == ",".join(sorted(MONITORING_GRANTS))
    refused = server.connect(MONITORING_ROLE, "payment_order", password)
    assert refused.returncode != 0 and "pg_hba.conf rejects connection" in refused.stderr
    # CONNECT is granted for pg_database_size alone: inside a service's database it could read nothing.
    assert server.query(f"select has_schema_privilege('{MONITORING_ROLE}', 'public', 'USAGE')", "payment_order") == "f"


# --- an existing volume laid out by the bootstrap before issue 15 ------------------------------------------------

LEGACY_SERVICE = "settlement-service"


def legacy_layout(services: Sequence[Service], intruder_password: str) -> str:
    """What the bootstrap before issue 15 left on a volume (its statements, passwords aside: the new bootstrap sets
    them), plus what a service and a hand did on it since: the service's LOGIN role owned its database and public
    schema and so created its tables itself; the exporter had pg_monitor; a retired service's role owns its kept
    database (and, here, a table in a current one); someone added a superuser LOGIN role and granted it to a
    service's role."""
    lines = ["CREATE ROLE payment_monitoring LOGIN;", "GRANT pg_monitor TO payment_monitoring;"]
    for service in services:
        db = service.database
        lines += [
            f"CREATE ROLE {db} LOGIN;",
            f"COMMENT ON ROLE {db} IS 'payment-platform: {service.name}';",
            f"CREATE DATABASE {db} OWNER {db};",
            f"\\connect {db}",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            f"ALTER SCHEMA public OWNER TO {db};",
            "\\connect postgres",
        ]
    settlement = SERVICES_CONFIG.service(LEGACY_SERVICE).database
    lines += [
        "CREATE ROLE payment_legacy LOGIN;",
        "COMMENT ON ROLE payment_legacy IS 'payment-platform: legacy-service';",
        "CREATE DATABASE payment_legacy OWNER payment_legacy;",
        f"CREATE ROLE intruder LOGIN SUPERUSER PASSWORD '{intruder_password}';",
        "CREATE DATABASE intruder OWNER intruder;",
        "GRANT intruder TO payment_order;",
        f"\\connect {settlement}",
        f"SET ROLE {settlement};",
        "CREATE TABLE settlements (id bigserial PRIMARY KEY, amount integer NOT NULL);",
        "INSERT INTO settlements (amount) VALUES (42);",
        "RESET ROLE;",
        "CREATE TABLE legacy_refunds (amount integer);",
        "ALTER TABLE legacy_refunds OWNER TO payment_legacy;",
    ]
    return "\n".join(line for line in lines if line) + "\n"


@pytest.mark.tool("postgresql")
def test_an_older_volume_is_migrated_to_the_role_split_and_the_changes_reported() -> None:
    with running_server() as server:
        intruder_password = secrets.token_urlsafe(24)
        laid = server.superuser(legacy_layout(SERVICES_CONFIG.services, intruder_password))
        assert laid.returncode == 0, laid.stderr
        intruder = server.connect("intruder", "intruder", intruder_password)
        assert intruder.returncode == 0, intruder.stderr  # it could log in before

        applied = server.bootstrap()
        assert applied.returncode == 0, applied.stderr
        report = applied.stderr
        settlement = SERVICES_CONFIG.service(LEGACY_SERVICE).database
        owner = db_owner_role(settlement)
        for line in (
            f"database {settlement} was owned by {settlement}: now owned by {owner}",
            f"database {settlement}: table settlements was owned by {settlement}: now owned by {owner}",
            f"database {settlement}: sequence settlements_id_seq was owned by {settlement}: now owned by {owner}",
            f"database {settlement}: schema public was owned by {settlement}: now owned by {owner}",
            f"database {settlement}: table legacy_refunds was owned by payment_legacy: now owned by {owner}",
            "role payment_monitoring was a member of pg_monitor (granted by postgres): membership revoked",
            "role payment_order was a member of intruder (granted by postgres): membership revoked",
            "role intruder (superuser) is not a login of payment-platform: login disabled",
            "role payment_legacy is no longer in the catalog: login disabled, database kept",
        ):
            assert f"WARNING:  {line}" in report, f"{line!r} not reported:\n{report}"
        assert all("WARNING:" in line for line in report.splitlines()), report
        assert not any(value in report for value in [*server.passwords.values(), intruder_password])

        assert server.query(
            "select string_agg(relname || ':' || pg_get_userbyid(relowner), ',' order by relname) from pg_class "
            "where relname in ('settlements', 'settlements_id_seq', 'legacy_refunds')",
            settlement,
        ) == ",".join(f"{t}:{owner}" for t in ("legacy_refunds", "settlements", "settlements_id_seq"))
        # The service reads the rows it wrote under the older layout, and keeps writing.
        for sql, expected in (
            ("SELECT amount FROM settlements", "42"),
            ("INSERT INTO settlements (amount) VALUES (7) RETURNING id", "2"),
            ("UPDATE settlements SET amount = amount + 1 WHERE id = 1 RETURNING amount", "43"),
            ("DELETE FROM settlements WHERE id = 2 RETURNING amount", "7"),
        ):
            assert server.answer(LEGACY_SERVICE, sql) == expected, sql
        dropped = server.login(LEGACY_SERVICE, "DROP TABLE settlements")
        assert dropped.returncode != 0 and "must be owner" in dropped.stderr
        # The retired service's database stays its own; only the table it had in another database moved.
        assert server.query("select pg_get_userbyid(datdba) from pg_database where datname = 'payment_legacy'") == (
            "payment_legacy"
        )
        refused = server.connect("intruder", "intruder", intruder_password)
        assert refused.returncode != 0 and "is not permitted to log in" in refused.stderr
        assert server.query("select pg_has_role('payment_order', 'intruder', 'MEMBER')") == "f"
        assert server.query("select pg_has_role('payment_monitoring', 'pg_read_all_stats', 'USAGE')") == "f"

        again = server.bootstrap()
        assert again.returncode == 0, again.stderr
        assert again.stderr == "", "the second apply changed (and reported) something"


@pytest.mark.tool("postgresql")
def test_what_a_migration_run_as_the_superuser_made_goes_to_the_owner_and_is_reported() -> None:
    """An operator who forgot `SET ROLE <db>_owner` leaves superuser-owned objects the service cannot use and
    pg_shdepend does not list: the next start hands them to the owner, with the sequences they own, and says so."""
    with running_server() as server:
        first = server.bootstrap()
        assert first.returncode == 0 and first.stderr == "", first.stderr
        service = "order-service"
        database = SERVICES_CONFIG.service(service).database
        owner = db_owner_role(database)
        made = server.superuser(
            "\n".join(
                [
                    "CREATE TABLE forgotten (id serial PRIMARY KEY, amount integer NOT NULL);",
                    "INSERT INTO forgotten (amount) VALUES (5);",
                    "CREATE SCHEMA audit;",
                    "CREATE TABLE audit.events (id bigint GENERATED ALWAYS AS IDENTITY, what text);",
                    "CREATE VIEW recent AS SELECT amount FROM forgotten;",
                    # An extension's own objects stay the superuser's: they are the extension's, not a migration's.
                    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
                ]
            ),
            database,
        )
        assert made.returncode == 0, made.stderr

        applied = server.bootstrap()
        assert applied.returncode == 0, applied.stderr
        for what in ("schema audit", "table forgotten", "table audit.events", "view recent"):
            line = f"WARNING:  database {database}: {what} was owned by postgres: now owned by {owner}"
            assert line in applied.stderr, f"{line!r} not reported:\n{applied.stderr}"
        assert "pg_stat_statements" not in applied.stderr
        owners = server.query(
            "select string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ',' order by c.relname) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname in ('public', 'audit') and c.relkind in ('r', 'v', 'S')",
            database,
        )
        mine = ("events", "events_id_seq", "forgotten", "forgotten_id_seq", "recent")
        extensions = ("pg_stat_statements", "pg_stat_statements_info")
        assert owners == ",".join(
            sorted([f"{name}:{owner}" for name in mine] + [f"{name}:postgres" for name in extensions])
        ), owners
        # The service uses them now, sequences included, and still cannot change them.
        for sql, expected in (
            ("INSERT INTO forgotten (amount) VALUES (7) RETURNING id", "2"),
            ("SELECT sum(amount) FROM recent", "12"),
            ("INSERT INTO audit.events (what) VALUES ('refund') RETURNING id", "1"),
        ):
            assert server.answer(service, sql) == expected, sql
        dropped = server.login(service, "DROP TABLE forgotten CASCADE")
        assert dropped.returncode != 0 and "must be owner" in dropped.stderr

        again = server.bootstrap()
        assert again.returncode == 0, again.stderr
        assert again.stderr == "", "the second apply changed (and reported) something"
