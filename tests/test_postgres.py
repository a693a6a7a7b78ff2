"""PostgreSQL: the generated bootstrap, pg_hba.conf and settings, checked against a real server.

The real-server tests run Debian's PostgreSQL (installed by .ci/run) with exactly the generated
pg_hba.conf, TLS settings and bootstrap SQL, and a server certificate issued by the faithful PKI model.
"""

from __future__ import annotations

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
from components.pki import Pki, PkiArgs
from components.secrets import Secrets, SecretsArgs
from plan import Render
from plan.engine import run_program
from stacks.catalog import APP_UID, SERVICES, db_password_secret
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
        self, user: str, database: str, password: str, sslmode: str = "verify-full"
    ) -> subprocess.CompletedProcess[str]:
        dsn = (
            f"host=localhost port={self.port} dbname={database} user={user} "
            f"sslmode={sslmode} sslrootcert={self.ca_file} connect_timeout=5"
        )
        return subprocess.run(
            ["psql", "-X", "-At", dsn, "-c", "select current_user || '@' || current_database()"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PGPASSWORD": password, "HOME": str(self.base)},
        )

    def query(self, sql: str) -> str:
        result = as_postgres(
            ["psql", "-X", "-At", "-h", self.paths.socket_dir, "-p", str(self.port), "-U", "postgres", "-c", sql]
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


SERVICES_CONFIG = platform_config("dev")


def as_postgres(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *argv], capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
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
            server = Server(base=base, paths=paths, port=port, ca_file=ca_file, passwords=passwords)
            first = server.bootstrap()
            assert first.returncode == 0, first.stderr
            yield server
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


@pytest.mark.tool("postgresql")
def test_bootstrap_runs_twice_and_yields_every_database_and_role(server: Server) -> None:
    again = server.bootstrap()
    assert again.returncode == 0, again.stderr
    rows = server.query(
        "select d.datname || ':' || pg_get_userbyid(d.datdba) from pg_database d where d.datname like 'payment_%' "
        "order by 1"
    ).splitlines()
    assert rows == sorted(f"{s.database}:{s.database}" for s in SERVICES)
    assert server.query(
        "select count(*) from pg_roles where rolname like 'payment_%' and rolname <> 'payment_monitoring' "
        "and rolcanlogin "
        "and not rolsuper and not rolcreatedb and not rolcreaterole"
    ) == str(len(SERVICES))


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


@pytest.mark.tool("postgresql")
def test_the_exporter_reads_statistics_and_nothing_else(server: Server) -> None:
    password = server.passwords["postgres-exporter-password"]
    own = server.connect("payment_monitoring", "postgres", password)
    assert own.returncode == 0, own.stderr
    assert server.query("select pg_has_role('payment_monitoring', 'pg_monitor', 'member')") == "t"
    assert server.connect("payment_monitoring", "payment_order", password).returncode != 0
    assert server.query("select has_database_privilege('payment_monitoring', 'payment_order', 'CONNECT')") == "f"
