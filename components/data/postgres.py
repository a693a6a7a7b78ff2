"""PostgreSQL for the platform: one database and one least-privilege login role per catalog service.

The seed ran an init-db.sh once and shared one DB_PASSWORD between all services. Here:

* Bootstrap on every start. The official image applies POSTGRES_PASSWORD and initdb scripts only to an
  empty data directory, so a rotated password or a new service would never reach an existing volume.
  The container instead starts through `components.docker.startup`'s wrapper, which runs the generated SQL
  over the local socket (peer authentication as `postgres`, no password involved) once the server is
  up, then marks the container healthy. The SQL is idempotent: it creates what is missing and re-asserts
  owners, grants and passwords. It is an upload, as are the password files, so any change to a
  database, role or password replaces the container and `pulumi up` re-applies it. The cost is one
  PostgreSQL restart per such change (a few seconds in which services reconnect).
* Passwords stay out of the SQL text and every command line: psql reads each password file with
  `\\set pw `cat <file>``, and the session turns statement logging off before sending them.
* Least privilege: each service's role owns only its database; CONNECT is revoked from PUBLIC on every
  database; pg_hba.conf lets a role reach only the database of the same name, only over TLS, and never
  lets the superuser in over the network. Services never receive the superuser password.
* Roles of services removed from the catalog lose LOGIN; their databases stay (payment data is never
  dropped by a refactor).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.docker.containers import Host, InfraSpec, infrastructure_container
from components.docker.files import PUBLIC_READ, ContainerFiles, upload
from components.docker.hardening import DEFAULT_TMPFS
from components.docker.image_contract import ImageContract, PathContract
from components.docker.startup import WRAPPER_PATH, wrapper_script
from components.pki import CA_FILE, LeafCertificate, tls_uploads
from components.secrets import secret_path
from stacks.catalog import (
    MONITORING_ROLE,
    POSTGRES,
    POSTGRES_EXPORTER_PASSWORD,
    POSTGRES_SUPERUSER_PASSWORD,
    db_password_secret,
)
from stacks.models import Infrastructure, PostgresTuning, Service
from stacks.units import ByteSize

POSTGRES_UID = 999
"""The official image's `postgres` user; it must own the server key and the password files."""

RESERVED_CONNECTIONS = 8
"""Kept back from the per-role limits: superuser maintenance and the metrics exporter."""
DATA_PATH = "/var/lib/postgresql"
"""Mount point of the data volume. PostgreSQL 18 images keep PGDATA in a versioned folder under it."""
ROLE_COMMENT = "payment-platform:"
"""Marks roles this program manages, so it can disable the ones whose service left the catalog."""


@dataclass(frozen=True)
class PostgresPaths:
    """Where things live inside the container (tests point these at a temporary folder)."""

    config_dir: str = "/etc/postgresql"
    secrets_dir: str = "/run/secrets"
    socket_dir: str = "/var/run/postgresql"

    @property
    def hba_file(self) -> str:
        return f"{self.config_dir}/pg_hba.conf"

    @property
    def bootstrap_sql(self) -> str:
        return f"{self.config_dir}/bootstrap.sql"

    @property
    def cert_file(self) -> str:
        return f"{self.config_dir}/tls/server.crt"

    @property
    def key_file(self) -> str:
        return f"{self.config_dir}/tls/server.key"

    @property
    def ca_file(self) -> str:
        return f"{self.config_dir}/tls/ca.pem"

    @property
    def marker(self) -> str:
        """Written once the bootstrap has been applied; the healthcheck requires it."""
        return f"{self.socket_dir}/payment-bootstrap.done"


def pg_size(size: ByteSize) -> str:
    """A size in PostgreSQL's units (kB, MB, GB are binary there too)."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{-(-size // 1024)}kB"  # rounded up to whole kB, PostgreSQL's smallest unit


def server_settings(tuning: PostgresTuning, paths: PostgresPaths) -> dict[str, str]:
    """`postgres -c` settings: sizing from the profile, TLS on, our pg_hba.conf, SCRAM passwords."""
    return {
        "listen_addresses": "*",
        "max_connections": str(tuning.max_connections),
        "shared_buffers": pg_size(tuning.shared_buffers),
        "effective_cache_size": pg_size(tuning.effective_cache_size),
        "work_mem": pg_size(tuning.work_mem),
        "maintenance_work_mem": pg_size(tuning.maintenance_work_mem),
        "password_encryption": "scram-sha-256",
        "ssl": "on",
        "ssl_cert_file": paths.cert_file,
        "ssl_key_file": paths.key_file,
        "ssl_ca_file": paths.ca_file,
        "ssl_min_protocol_version": "TLSv1.2",
        "hba_file": paths.hba_file,
        "log_connections": "on",
        "log_disconnections": "on",
    }


def command(tuning: PostgresTuning, paths: PostgresPaths) -> list[str]:
    """The container command: settings as `-c` flags (no secrets among them)."""
    args = ["postgres"]
    for key, value in server_settings(tuning, paths).items():
        args += ["-c", f"{key}={value}"]
    return args


def pg_hba() -> str:
    """Client authentication: first match wins, anything unmatched is refused."""
    return f"""# Generated by payment-platform (components/postgres.py). First matching line wins.
# TYPE   DATABASE  USER      ADDRESS  METHOD
# The bootstrap runs as postgres over the container's own socket.
local    all       postgres           peer
# The superuser never logs in over the network, whatever its password.
hostssl  all       postgres  all      reject
host     all       postgres  all      reject
# The metrics exporter reads statistics from the maintenance database only.
hostssl  postgres  {MONITORING_ROLE}  all  scram-sha-256
# A service's role reaches only the database of the same name, over TLS, with its SCRAM password.
hostssl  sameuser  all       all      scram-sha-256
# Nothing in plain text.
host     all       all       all      reject
"""


def connection_limits(services: Sequence[Service], max_connections: int) -> dict[str, int]:
    """Per-role connection limits: an equal share per container, so no service starves the others."""
    containers = sum(s.replicas for s in services)
    share = max(2, (max_connections - RESERVED_CONNECTIONS) // max(containers, 1))
    return {s.database: share * s.replicas for s in services}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def bootstrap_sql(services: Sequence[Service], max_connections: int, paths: PostgresPaths) -> str:
    """Idempotent SQL that makes the server match the catalog. Contains no secret values.

    Role and database names are validated identifiers (stacks.models.DATABASE_NAME); they are still
    quoted through format('%I') or double quotes so the text stays correct for any of them.
    """
    limits = connection_limits(services, max_connections)
    lines = [
        "-- Generated by payment-platform (components/postgres.py). Applied with psql on every start.",
        "\\set ON_ERROR_STOP on",
        "\\set QUIET on",
        "-- This session sends passwords: never log its statements, not even a failing one.",
        "SET log_statement = 'none';",
        "SET log_min_error_statement = 'panic';",
        "SET client_min_messages = 'warning';",
        "",
        "-- The image sets the superuser password only on an empty volume; re-assert it on every start.",
        f"\\set pw `cat {shlex.quote(f'{paths.secrets_dir}/{POSTGRES_SUPERUSER_PASSWORD.name}')}`",
        "ALTER ROLE postgres WITH PASSWORD :'pw';",
        "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;",
        "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;",
        "",
        "-- The metrics exporter: read-only statistics (pg_monitor) on the maintenance database, nothing else.",
        f"SELECT format('CREATE ROLE %I', {_literal(MONITORING_ROLE)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(MONITORING_ROLE)}) \\gexec",
        f"\\set pw `cat {shlex.quote(f'{paths.secrets_dir}/{POSTGRES_EXPORTER_PASSWORD.name}')}`",
        f'ALTER ROLE "{MONITORING_ROLE}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
        f"CONNECTION LIMIT 5 PASSWORD :'pw';",
        f'GRANT pg_monitor TO "{MONITORING_ROLE}";',
        f'GRANT CONNECT ON DATABASE postgres TO "{MONITORING_ROLE}";',
    ]
    for service in services:
        role = database = service.database
        password_file = f"{paths.secrets_dir}/{db_password_secret(service.name)}"
        lines += [
            "",
            f"-- {service.name}",
            f"SELECT format('CREATE ROLE %I', {_literal(role)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) \\gexec",
            f"\\set pw `cat {shlex.quote(password_file)}`",
            f'ALTER ROLE "{role}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
            f"CONNECTION LIMIT {limits[database]} PASSWORD :'pw';",
            f'COMMENT ON ROLE "{role}" IS {_literal(f"{ROLE_COMMENT} {service.name}")};',
            f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(database)}, {_literal(role)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(database)}) \\gexec",
            f'ALTER DATABASE "{database}" OWNER TO "{role}";',
            f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;',
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{role}";',
        ]
    current = ", ".join(_literal(s.database) for s in services)
    lines += [
        "\\unset pw",
        "",
        "-- Roles of services that left the catalog keep their data but can no longer log in.",
        "DO $$",
        "DECLARE stale record;",
        "BEGIN",
        "  FOR stale IN",
        "    SELECT r.rolname FROM pg_roles r",
        "    JOIN pg_shdescription d ON d.objoid = r.oid AND d.classoid = 'pg_authid'::regclass",
        f"    WHERE d.description LIKE {_literal(ROLE_COMMENT + ' %')} AND r.rolcanlogin",
        f"      AND r.rolname <> ALL (ARRAY[{current}]::name[])",
        "  LOOP",
        "    EXECUTE format('ALTER ROLE %I NOLOGIN', stale.rolname);",
        "    RAISE WARNING 'role % is no longer in the catalog: login disabled, database kept', stale.rolname;",
        "  END LOOP;",
        "END $$;",
    ]
    for service in services:
        # In each database the service's role owns the public schema, and nobody else may use it.
        lines += [
            f'\\connect "{service.database}"',
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            f'ALTER SCHEMA public OWNER TO "{service.database}";',
        ]
    return "\n".join(lines) + "\n"


def apply_command(paths: PostgresPaths) -> str:
    """The wrapper's apply step: psql over the local socket as postgres (peer authentication)."""
    return (
        f"psql -X -q -h {shlex.quote(paths.socket_dir)} -U postgres -d postgres "
        f"-v ON_ERROR_STOP=1 -f {shlex.quote(paths.bootstrap_sql)}"
    )


def healthcheck(paths: PostgresPaths, port: int = POSTGRES.port) -> list[str]:
    """Healthy once the server accepts TCP connections and the bootstrap has been applied."""
    return ["CMD-SHELL", f"pg_isready -q -h 127.0.0.1 -p {port} -U postgres && test -f {shlex.quote(paths.marker)}"]


def service_environment(service: Service, postgres: Infrastructure) -> dict[str, str]:
    """The database half of the service connection contract (the password comes from Secrets)."""
    return {
        "DB_HOST": postgres.dns_name,
        "DB_PORT": str(postgres.port),
        "DB_NAME": service.database,
        "DB_USER": service.database,
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": CA_FILE,
    }


@dataclass(frozen=True)
class PostgresArgs:
    infra: Infrastructure
    """PostgreSQL's catalog entry, resolved: port, image, sizing, exposure."""
    tuning: PostgresTuning
    services: tuple[Service, ...]
    """One database and one role (with a connection limit) each."""
    host: Host
    """The Docker host: platform network, the loader image, the profile's container defaults."""
    passwords: Mapping[str, pulumi.Output[str]]
    """Secret name -> value (secret): the superuser's, the exporter's and every `db-password-<service>`."""
    certificate: LeafCertificate
    """The server certificate issued to `postgres` by the platform CA."""
    trust_bundle: pulumi.Output[str]


class Postgres(pulumi.ComponentResource):
    """PostgreSQL: data volume, server certificate, one database and role per service."""

    container: docker.Container

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:data:Postgres", name, None, opts)
        infra = args.infra
        paths = PostgresPaths()

        def own(path: str, content: pulumi.Input[str], mode: str = "0400") -> docker.ContainerUploadArgs:
            return upload(path, content, POSTGRES_UID, mode)

        secrets = [
            POSTGRES_SUPERUSER_PASSWORD.name,
            POSTGRES_EXPORTER_PASSWORD.name,
            *(db_password_secret(s.name) for s in args.services),
        ]
        files = ContainerFiles(
            env={"POSTGRES_PASSWORD_FILE": secret_path(POSTGRES_SUPERUSER_PASSWORD.name)},
            uploads=(
                *(own(secret_path(secret), args.passwords[secret]) for secret in secrets),
                own(paths.hba_file, pg_hba(), PUBLIC_READ),
                own(paths.bootstrap_sql, bootstrap_sql(args.services, args.tuning.max_connections, paths), PUBLIC_READ),
                *tls_uploads(
                    args.certificate,
                    args.trust_bundle,
                    POSTGRES_UID,
                    cert=paths.cert_file,
                    key=paths.key_file,
                    ca=paths.ca_file,
                ),
                own(
                    WRAPPER_PATH,
                    wrapper_script(
                        server=["docker-entrypoint.sh"],
                        # TCP, not the socket: during initdb the image runs a socket-only temporary server.
                        ready=f"pg_isready -q -h 127.0.0.1 -p {infra.port}",
                        apply=apply_command(paths),
                        marker=paths.marker,
                    ),
                    "0555",
                ),
            ),
        )
        self.container = infrastructure_container(
            name,
            infra,
            args.host,
            InfraSpec(
                healthcheck=healthcheck(paths, infra.port),
                user=f"{POSTGRES_UID}:{POSTGRES_UID}",
                files=files,
                data_path=DATA_PATH,
                # The socket, the bootstrap marker and the server's pid live here; the root stays read-only.
                tmpfs={**DEFAULT_TMPFS, paths.socket_dir: "rw,noexec,nosuid,size=16m,mode=1777"},
                entrypoint=[WRAPPER_PATH],
                command=command(args.tuning, paths),
            ),
            parent=self,
        )
        self.register_outputs({"container": self.container.name})


IMAGE_CONTRACT = ImageContract(
    stands_for=str(POSTGRES.image),
    local=POSTGRES.name,
    # The official image starts as root (its entrypoint steps down); the container always runs as postgres.
    user=None,
    run_as=f"{POSTGRES_UID}:{POSTGRES_UID}",
    # The start-up wrapper runs it by name (`wrapper_script(server=["docker-entrypoint.sh"])`): initdb with
    # POSTGRES_PASSWORD_FILE on an empty volume, then `postgres -c ...`.
    entrypoint=("docker-entrypoint.sh",),
    # The wrapper (sh, rm, sleep, touch), its apply step (psql, which runs `cat` for each password file),
    # the healthcheck (pg_isready, test) and the server.
    executables=("docker-entrypoint.sh", "postgres", "psql", "pg_isready", "sh", "rm", "sleep", "touch", "test", "cat"),
    paths=(
        # The data volume starts as a copy of this folder: postgres must be able to create PGDATA in it.
        PathContract(DATA_PATH, owner=f"{POSTGRES_UID}:{POSTGRES_UID}", mode=0o1777),
        # A tmpfs is mounted here; the engine gives it this folder's owner and mode, not the tmpfs `mode=`.
        PathContract(PostgresPaths().socket_dir, owner=f"{POSTGRES_UID}:{POSTGRES_UID}", mode=0o3777),
    ),
    env_paths=(("PGDATA", DATA_PATH),),
    probe=("postgres", "--version"),
    ports=(POSTGRES.port,),
)
"""What this module relies on from `postgres:18.6-trixie` (checked against local builds by tests/images)."""
