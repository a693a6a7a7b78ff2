"""Metric names each scrape job produces: the contract between scrape jobs, alert rules and dashboards.

Exporter metrics are the names the exporters document; service metrics are the platform's contract
with service images (the demo stand-in exports them too); Kong's are its Prometheus plugin's. Tests
check that every alert rule and every dashboard query names a metric listed here for a job Prometheus
actually scrapes, so a panel cannot silently query nothing.
"""

from __future__ import annotations

from types import MappingProxyType

from stacks import catalog

SCRAPE = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
"""Synthetic series Prometheus records for every target."""

SERVICE = frozenset(
    {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_request_duration_seconds_sum",
        "http_request_duration_seconds_count",
        "payment_demo_info",
    }
)
"""Every application service (`job` = the service name); labels `service`, `method`, `status`."""

PAYMENT_GATEWAY = frozenset({"payment_gateway_payment_total"})
"""payment-gateway only; label `status` (success, failed): the seed's payment success rate."""

KONG = frozenset(
    {
        "kong_http_requests_total",
        "kong_request_latency_ms_bucket",
        "kong_request_latency_ms_sum",
        "kong_request_latency_ms_count",
        "kong_upstream_latency_ms_bucket",
        "kong_kong_latency_ms_bucket",
        "kong_bandwidth_bytes",
        "kong_upstream_target_health",
        "kong_nginx_connections_total",
    }
)

POSTGRES_EXPORTER = frozenset(
    {
        "pg_up",
        "pg_stat_database_numbackends",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_stat_database_blks_hit",
        "pg_stat_database_blks_read",
        "pg_stat_database_deadlocks",
        "pg_stat_database_tup_fetched",
        "pg_stat_database_tup_inserted",
        "pg_database_size_bytes",
        "pg_settings_max_connections",
        "pg_locks_count",
    }
)

REDIS_EXPORTER = frozenset(
    {
        "redis_up",
        "redis_connected_clients",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_commands_processed_total",
        "redis_keyspace_hits_total",
        "redis_keyspace_misses_total",
        "redis_evicted_keys_total",
        "redis_db_keys",
    }
)

KAFKA_EXPORTER = frozenset(
    {
        "kafka_brokers",
        "kafka_topic_partitions",
        "kafka_topic_partition_current_offset",
        "kafka_topic_partition_under_replicated_partition",
        "kafka_consumergroup_lag",
        "kafka_consumergroup_current_offset",
    }
)

CADVISOR = frozenset(
    {
        "container_memory_usage_bytes",
        "container_memory_working_set_bytes",
        "container_spec_memory_limit_bytes",
        "container_cpu_usage_seconds_total",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_last_seen",
    }
)
"""Label `name` is the container name (`payment-…`)."""

PROMETHEUS = frozenset(
    {"prometheus_build_info", "prometheus_tsdb_head_series", "prometheus_rule_evaluation_failures_total"}
)

BY_EXPORTER: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        catalog.POSTGRES_EXPORTER.name: POSTGRES_EXPORTER,
        catalog.REDIS_EXPORTER.name: REDIS_EXPORTER,
        catalog.KAFKA_EXPORTER.name: KAFKA_EXPORTER,
        catalog.CADVISOR.name: CADVISOR,
    }
)


def all_known() -> frozenset[str]:
    """Every metric name some scrape job of the platform produces."""
    return SCRAPE | SERVICE | PAYMENT_GATEWAY | KONG | PROMETHEUS | frozenset().union(*BY_EXPORTER.values())
