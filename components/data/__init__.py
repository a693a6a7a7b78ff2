"""Data stores (`payment:data:*`): PostgreSQL, Redis and Kafka, each with a retained data volume."""
