"""d. Data stores: each service's role logs in over verified TLS to its own database through 127.0.0.1 and is
refused on another service's database; Redis refuses unauthenticated commands and accepts the generated
password; every Prometheus service target is `up`; Kafka's declared topics exist."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from components.data.kafka import CLIENT_CONFIG
from stacks.catalog import TOPICS, db_password_secret
from tests.conftest import require_tool
from tests.e2e.live import Live, docker_exec, operator_tls, psql, published_port

HOST = "127.0.0.1"


WHO_AND_TLS = "select current_user || ' ' || ssl from pg_stat_ssl where pid = pg_backend_pid()"


def test_each_role_reaches_its_own_database_over_tls_and_no_other(deployed: Live, ca_file: Path) -> None:
    outputs = deployed.outputs()
    services = outputs["services"]
    passwords = deployed.generated_secrets()
    names = sorted(services)
    problems = []
    for index, name in enumerate(names):
        database, role = services[name]["database"], services[name]["database"]
        password = passwords[db_password_secret(name)]
        own = psql(outputs, ca_file, role, database, password=password, query=WHO_AND_TLS)
        if own.returncode != 0 or own.stdout.strip() != f"{role} true":
            problems.append(f"{role} on {database}: {own.stdout.strip()} {own.stderr.strip()}")
        other = services[names[(index + 1) % len(names)]]["database"]
        refused = psql(outputs, ca_file, role, other, password=password, query=WHO_AND_TLS)
        # Refused by pg_hba.conf (each role is listed for its own database only), or, behind it, by CONNECT.
        if refused.returncode == 0 or not any(
            reason in refused.stderr for reason in ("pg_hba.conf rejects connection", "permission denied for database")
        ):
            problems.append(f"{role} on {other}: not refused ({refused.stderr.strip()})")
    assert problems == []
    deployed.results["databaseLogins"] = len(names)


def test_redis_wants_the_generated_password(deployed: Live, ca_file: Path) -> None:
    cli = require_tool("redis-cli", "redis-tools")
    port = published_port(deployed.outputs(), "redis")
    base = [cli, "--tls", "--cacert", str(ca_file), "-h", HOST, "-p", str(port), "--no-auth-warning"]
    anonymous = subprocess.run([*base, "PING"], capture_output=True, text=True, timeout=30, check=False)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr, anonymous.stdout + anonymous.stderr
    env = {**os.environ, "REDISCLI_AUTH": deployed.generated_secrets()["redis-password"]}
    authed = subprocess.run([*base, "PING"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert authed.stdout.strip() == "PONG", authed.stderr


def test_every_prometheus_service_target_is_up(deployed: Live, ca_file: Path, tmp_path: Path) -> None:
    outputs = deployed.outputs(show_secrets=True)
    context = operator_tls(outputs, ca_file, tmp_path)
    url = outputs["urls"]["prometheus"].rstrip("/") + "/api/v1/targets?state=active"
    deadline, down = time.monotonic() + 120, ["?"]
    while down and time.monotonic() < deadline:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            targets = json.load(response)["data"]["activeTargets"]
        down = sorted(
            f"{t['labels'].get('job')}/{t['labels'].get('instance')}: {t['health']}"
            for t in targets
            if t["health"] != "up"
        )
        if down:
            time.sleep(3)
    assert down == [], down
    jobs = {t["labels"].get("job") for t in targets}
    assert set(deployed.outputs()["services"]) <= jobs | {t["labels"].get("service") for t in targets}
    deployed.results["prometheusTargetsUp"] = len(targets)


def test_kafka_has_every_declared_topic(deployed: Live) -> None:
    out = docker_exec(
        "payment-kafka", "sh", "-c",
        # TLS as the broker itself: the listener requires a client certificate (components/data/kafka.py).
        f"KAFKA_HEAP_OPTS=-Xmx64m /opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 "
        f"--command-config {CLIENT_CONFIG} --list",
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert {t.name for t in TOPICS} <= set(out.stdout.split())
