"""Observability (`payment:observability:*`): Prometheus and its exporters, Jaeger, Grafana, and the metric
names that tie scrape jobs, alert rules and dashboards together."""
