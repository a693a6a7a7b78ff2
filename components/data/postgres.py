"""PostgreSQL for the platform: one database per catalog service, owned by a NOLOGIN owner role, used by a DML-only
login role.

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
* Least privilege: `<db>_owner` (NOLOGIN) owns the service's database, schemas and objects, and migrations run as
  it (`SET ROLE` from the superuser's socket session: nobody else is a member of it). The service logs in as
  `<db>` (its DB_USER, unchanged) with rows-only rights, extended by default privileges to whatever the owner
  creates later, so a compromised service can neither drop nor alter its schema. CONNECT is revoked from PUBLIC on
  every database; pg_hba.conf lets a role reach only the database of the same name, only over TLS, and never
  lets the superuser in over the network. Services never receive the superuser password.
* The exporter's role has pg_read_all_settings, not pg_monitor: pg_monitor's pg_read_all_stats would show it
  every session's query text, card numbers in literals included.
* Roles of services removed from the catalog lose LOGIN; their databases stay (payment data is never
  dropped by a refactor). So does every LOGIN role the program does not manage, `postgres` aside; objects in a
  service's database owned by any role but its owner (the login role of the older layout, which owned
  everything) go to the owner. Each such change is one WARNING line in the container's log; a second apply finds
  nothing to change and logs nothing.
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
    MONITORING_GRANTS,
    MONITORING_ROLE,
    POSTGRES,
    POSTGRES_EXPORTER,
    POSTGRES_EXPORTER_PASSWORD,
    POSTGRES_SUPERUSER,
    POSTGRES_SUPERUSER_PASSWORD,
    db_owner_role,
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
"""Marks roles this program made, so its report can tell a retired service's login from a hand-made one."""
OWNER_NOTE = "(owner)"
"""Ends the comment of a service's owner role, which never logs in, after the service's name."""


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


def _array(names: Sequence[str]) -> str:
    """A `name[]` literal for PL/pgSQL (empty when there are none)."""
    return f"ARRAY[{', '.join(_literal(n) for n in names)}]::name[]"


def _create_role(role: str) -> str:
    """CREATE ROLE (NOLOGIN, PostgreSQL's default) unless it exists; silent either way."""
    return (
        f"SELECT format('CREATE ROLE %I', {_literal(role)}) "
        f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(role)}) \\gexec"
    )


def bootstrap_sql(services: Sequence[Service], max_connections: int, paths: PostgresPaths) -> str:
    """Idempotent SQL that makes the server match the catalog. Contains no secret values.

    Role and database names are validated identifiers (stacks.models.DATABASE_NAME); they are still
    quoted through format('%I') or double quotes so the text stays correct for any of them.

    What it finds on an existing volume and changes (an older layout, a retired service, a hand-made role) it
    reports with one RAISE WARNING line each, which psql writes to the container's log; applied again, it
    changes and reports nothing.
    """
    limits = connection_limits(services, max_connections)
    runtime_roles = [s.database for s in services]
    owner_roles = [db_owner_role(s.database) for s in services]
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
        f"ALTER ROLE {POSTGRES_SUPERUSER} WITH PASSWORD :'pw';",
        f"REVOKE CONNECT ON DATABASE {POSTGRES_SUPERUSER} FROM PUBLIC;",
        "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC;",
        "",
        "-- The metrics exporter: statistics and settings on the maintenance database, no other role's query text.",
        _create_role(MONITORING_ROLE),
        f"\\set pw `cat {shlex.quote(f'{paths.secrets_dir}/{POSTGRES_EXPORTER_PASSWORD.name}')}`",
        f'ALTER ROLE "{MONITORING_ROLE}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
        f"CONNECTION LIMIT 5 PASSWORD :'pw';",
        f'COMMENT ON ROLE "{MONITORING_ROLE}" IS {_literal(f"{ROLE_COMMENT} {POSTGRES_EXPORTER.name}")};',
        *(f'GRANT {granted} TO "{MONITORING_ROLE}";' for granted in MONITORING_GRANTS),
        f'GRANT CONNECT ON DATABASE {POSTGRES_SUPERUSER} TO "{MONITORING_ROLE}";',
    ]
    for service in services:
        runtime = database = service.database
        owner = db_owner_role(database)
        password_file = f"{paths.secrets_dir}/{db_password_secret(service.name)}"
        lines += [
            "",
            f"-- {service.name}: {owner} owns the database and every object in it (migrations `SET ROLE` to it from",
            f"-- the superuser's socket session); {runtime}, the service's login, reads and writes rows only.",
            _create_role(owner),
            # No LOGIN attribute here: a LOGIN someone gave the owner is taken away, and reported, further down.
            f'ALTER ROLE "{owner}" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD NULL;',
            f'COMMENT ON ROLE "{owner}" IS {_literal(f"{ROLE_COMMENT} {service.name} {OWNER_NOTE}")};',
            _create_role(runtime),
            f"\\set pw `cat {shlex.quote(password_file)}`",
            f'ALTER ROLE "{runtime}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
            f"CONNECTION LIMIT {limits[database]} PASSWORD :'pw';",
            f'COMMENT ON ROLE "{runtime}" IS {_literal(f"{ROLE_COMMENT} {service.name}")};',
            f"SELECT format('CREATE DATABASE %I OWNER %I', {_literal(database)}, {_literal(owner)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(database)}) \\gexec",
        ]
    ownership = ", ".join(f"({_literal(s.database)}, {_literal(db_owner_role(s.database))})" for s in services)
    lines += [
        "\\unset pw",
        "",
        "-- Before any grant on a database: changing its owner hands the old owner's grants to the new one.",
        "DO $$",
        "DECLARE db record;",
        "BEGIN",
        "  FOR db IN",
        "    SELECT d.datname, pg_get_userbyid(d.datdba) AS was, o.owner",
        f"    FROM pg_database d JOIN (VALUES {ownership or '(NULL::name, NULL::name)'}) AS o (datname, owner)",
        "      USING (datname)",
        "    WHERE pg_get_userbyid(d.datdba) <> o.owner",
        "  LOOP",
        "    EXECUTE format('ALTER DATABASE %I OWNER TO %I', db.datname, db.owner);",
        "    RAISE WARNING 'database % was owned by %: now owned by %', db.datname, db.was, db.owner;",
        "  END LOOP;",
        "END $$;",
    ]
    for service in services:
        lines += [
            f'REVOKE ALL ON DATABASE "{service.database}" FROM PUBLIC;',
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{service.database}" TO "{service.database}";',
        ]
    expected_grants = ", ".join(_literal(g) for g in MONITORING_GRANTS)
    lines += [
        "",
        "-- A managed role is a member of nothing but what is granted above: a runtime role that could `SET ROLE`",
        "-- to its owner, or the exporter in pg_monitor (pg_read_all_stats: every session's query text), is not.",
        "DO $$",
        "DECLARE m record;",
        "BEGIN",
        "  FOR m IN",
        "    SELECT pg_get_userbyid(a.member) AS member, pg_get_userbyid(a.roleid) AS granted,",
        "           pg_get_userbyid(a.grantor) AS grantor",
        "    FROM pg_auth_members a",
        f"    WHERE (pg_get_userbyid(a.member) = ANY ({_array([*runtime_roles, *owner_roles])})",
        f"           OR pg_get_userbyid(a.member) = {_literal(MONITORING_ROLE)}",
        f"              AND pg_get_userbyid(a.roleid) <> ALL (ARRAY[{expected_grants}]::name[]))",
        "  LOOP",
        "    -- From PostgreSQL 16 a superuser's REVOKE removes only the grants the bootstrap superuser made.",
        "    IF current_setting('server_version_num')::int >= 160000 THEN",
        "      EXECUTE format('REVOKE %I FROM %I GRANTED BY %I', m.granted, m.member, m.grantor);",
        "    ELSE",
        "      EXECUTE format('REVOKE %I FROM %I', m.granted, m.member);",
        "    END IF;",
        "    RAISE WARNING 'role % was a member of % (granted by %): membership revoked', m.member, m.granted,",
        "      m.grantor;",
        "  END LOOP;",
        "END $$;",
        "",
        "-- Only the platform's own roles log in: a retired service's keeps its data but not its login, and any",
        f"-- other (a hand-made superuser, an owner given LOGIN) loses it too. {POSTGRES_SUPERUSER} stays: it runs",
        "-- this over the socket, and pg_hba.conf never lets it in over the network.",
        "DO $$",
        "DECLARE r record;",
        "BEGIN",
        "  FOR r IN",
        "    SELECT rolname, rolsuper, shobj_description(oid, 'pg_authid') AS note FROM pg_roles",
        f"    WHERE rolcanlogin AND rolname <> {_literal(POSTGRES_SUPERUSER)}",
        f"      AND rolname <> ALL ({_array([MONITORING_ROLE, *runtime_roles])})",
        "  LOOP",
        "    EXECUTE format('ALTER ROLE %I NOLOGIN', r.rolname);",
        f"    IF r.note LIKE {_literal(ROLE_COMMENT + ' %')} AND r.note NOT LIKE {_literal('% ' + OWNER_NOTE)} THEN",
        "      RAISE WARNING 'role % is no longer in the catalog: login disabled, database kept', r.rolname;",
        "    ELSE",
        "      RAISE WARNING 'role % (%) is not a login of payment-platform: login disabled', r.rolname,",
        "        CASE WHEN r.rolsuper THEN 'superuser' ELSE 'no superuser' END;",
        "    END IF;",
        "  END LOOP;",
        "END $$;",
        "",
        "-- postgres_exporter sizes every database with pg_database_size, which wants CONNECT (or pg_read_all_stats,",
        f"-- which it must not have). pg_hba.conf still admits {MONITORING_ROLE} to {POSTGRES_SUPERUSER} only, and",
        "-- in a service's database it would have no schema, table or sequence privilege.",
        "DO $$",
        "DECLARE db record;",
        "BEGIN",
        "  FOR db IN SELECT datname FROM pg_database",
        f"    WHERE NOT has_database_privilege({_literal(MONITORING_ROLE)}, oid, 'CONNECT')",
        "  LOOP",
        f"    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db.datname, {_literal(MONITORING_ROLE)});",
        "  END LOOP;",
        "END $$;",
    ]
    for service in services:
        lines += ["", *_database_sql(service.database, db_owner_role(service.database))]
    return "\n".join(lines) + "\n"


RUNTIME_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
"""What a service's login may do to rows. Not TRUNCATE (it empties a table at once, past DELETE triggers and row
security: a migration's job), REFERENCES or TRIGGER (both shape the schema)."""
RUNTIME_SEQUENCE_PRIVILEGES = "USAGE, SELECT"
"""nextval and currval; not UPDATE (setval: resetting a sequence is a migration's job)."""


def _database_sql(database: str, owner: str) -> list[str]:
    """Inside one service's database: every object belongs to `owner`, the runtime role `database` gets DML on
    what exists and, through default privileges, on what `owner` creates later."""
    runtime = database
    return [
        f'\\connect "{database}"',
        "-- A new session: notices (such as IF NOT EXISTS skipping) stay out of the log here too.",
        "SET client_min_messages = 'warning';",
        "-- Objects of any other role (the service's login under the older layout, which owned everything; a",
        "-- retired service's role) go to the owner; the runtime role gets rows-only access to the ones that moved.",
        "DO $$",
        "DECLARE",
        "  former record;",
        "  item record;",
        "  kept name[];",
        "  db name;",
        "  moved_relations oid[] := '{}';",
        "  moved_schemas oid[] := '{}';",
        f"  owner CONSTANT name := {_literal(owner)};",
        f"  runtime CONSTANT name := {_literal(runtime)};",
        "BEGIN",
        "  FOR former IN",
        "    SELECT DISTINCT s.refobjid AS oid, pg_get_userbyid(s.refobjid) AS name FROM pg_shdepend s",
        "    WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        "      AND s.deptype = 'o' AND s.refclassid = 'pg_authid'::regclass AND pg_get_userbyid(s.refobjid) <> owner",
        "  LOOP",
        "    FOR item IN",
        "      SELECT s.classid, s.objid, pg_describe_object(s.classid, s.objid, s.objsubid) AS what",
        "      FROM pg_shdepend s WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        "        AND s.deptype = 'o' AND s.refobjid = former.oid",
        "    LOOP",
        "      IF item.classid = 'pg_class'::regclass THEN",
        "        moved_relations := moved_relations || item.objid;",
        "      ELSIF item.classid = 'pg_namespace'::regclass THEN",
        "        moved_schemas := moved_schemas || item.objid;",
        "      END IF;",
        "      RAISE WARNING 'database %: % was owned by %: now owned by %', current_database(), item.what,",
        "        former.name, owner;",
        "    END LOOP;",
        "    -- REASSIGN OWNED also gives away the databases the role owns (a retired service's, kept): give",
        "    -- those back.",
        "    kept := ARRAY(SELECT datname FROM pg_database WHERE datdba = former.oid);",
        "    EXECUTE format('REASSIGN OWNED BY %I TO %I', former.name, owner);",
        "    FOREACH db IN ARRAY kept LOOP",
        "      EXECUTE format('ALTER DATABASE %I OWNER TO %I', db, former.name);",
        "    END LOOP;",
        "  END LOOP;",
        "  -- A migration run as the superuser without `SET ROLE` leaves schemas and relations no service may use (and",
        "  -- that pg_shdepend does not list): they go to the owner too. Not the system's own schemas, not an",
        "  -- extension's members, and not a sequence a table owns (it follows its table, and cannot move alone).",
        "  FOR item IN",
        "    SELECT n.oid, n.nspname FROM pg_namespace n",
        f"    WHERE n.nspowner = {_literal(POSTGRES_SUPERUSER)}::regrole AND n.nspname NOT LIKE 'pg\\_%'",
        "      AND n.nspname NOT IN ('information_schema', 'public')",
        "      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass",
        "                      AND d.objid = n.oid AND d.deptype = 'e')",
        "  LOOP",
        "    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', item.nspname, owner);",
        "    moved_schemas := moved_schemas || item.oid;",
        "    RAISE WARNING 'database %: schema % was owned by %: now owned by %', current_database(), item.nspname,",
        f"      {_literal(POSTGRES_SUPERUSER)}, owner;",
        "  END LOOP;",
        "  FOR item IN",
        "    SELECT c.oid, c.oid::regclass AS rel, pg_describe_object('pg_class'::regclass, c.oid, 0) AS what,",
        "      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'",
        "        WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind",
        "    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
        f"    WHERE c.relowner = {_literal(POSTGRES_SUPERUSER)}::regrole",
        "      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')",
        "      AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
        "      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid",
        "                      AND (d.deptype = 'e' OR c.relkind = 'S' AND d.deptype IN ('a', 'i')))",
        "  LOOP",
        "    EXECUTE format('ALTER %s %s OWNER TO %I', item.kind, item.rel, owner);",
        "    -- With the relation go the sequences it owns (serial and identity columns).",
        "    moved_relations := moved_relations || item.oid || ARRAY(",
        "      SELECT d.objid FROM pg_depend d WHERE d.classid = 'pg_class'::regclass",
        "        AND d.refclassid = 'pg_class'::regclass AND d.refobjid = item.oid AND d.deptype IN ('a', 'i'));",
        "    RAISE WARNING 'database %: % was owned by %: now owned by %', current_database(), item.what,",
        f"      {_literal(POSTGRES_SUPERUSER)}, owner;",
        "  END LOOP;",
        "  -- A change of owner hands the old owner's rights to the new one: the runtime role's are granted again.",
        "  FOR item IN",
        "    SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c",
        "    WHERE c.oid = ANY (moved_relations) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')",
        "  LOOP",
        "    IF item.relkind = 'S' THEN",
        f"      EXECUTE format('GRANT {RUNTIME_SEQUENCE_PRIVILEGES} ON SEQUENCE %s TO %I', item.rel, runtime);",
        "    ELSE",
        f"      EXECUTE format('GRANT {RUNTIME_TABLE_PRIVILEGES} ON TABLE %s TO %I', item.rel, runtime);",
        "    END IF;",
        "  END LOOP;",
        "  FOR item IN SELECT n.nspname FROM pg_namespace n WHERE n.oid = ANY (moved_schemas) LOOP",
        "    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', item.nspname, runtime);",
        "  END LOOP;",
        "END $$;",
        # The older layout let the service's login drop its schema: a dropped one comes back, empty.
        f'CREATE SCHEMA IF NOT EXISTS public AUTHORIZATION "{owner}";',
        f'ALTER SCHEMA public OWNER TO "{owner}";',
        "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
        f'GRANT USAGE ON SCHEMA public TO "{runtime}";',
        "-- What the owner creates later (a migration's tables, sequences, schemas) the runtime role can use.",
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT {RUNTIME_TABLE_PRIVILEGES} ON TABLES TO "{runtime}";',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT {RUNTIME_SEQUENCE_PRIVILEGES} ON SEQUENCES TO "{runtime}";',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" GRANT USAGE ON SCHEMAS TO "{runtime}";',
    ]


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
