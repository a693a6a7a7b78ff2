"""The data tier: PostgreSQL and Redis tuning within their containers' memory, Kafka's topics, health timing and
data protection from the profile."""

from __future__ import annotations

import re

from stacks.catalog import KAFKA, POSTGRES, REDIS, TOPICS
from stacks.errors import Problem
from stacks.models import DataTier, Infrastructure, Profile, StackSettings, Topic, TopicSettings
from stacks.resolve.merge import overlay

TOPIC_NAME = re.compile(r"[a-z][a-z0-9._-]{0,200}")
"""Kafka's legal topic characters, lower case; always `fullmatch`ed (`$` would let a final newline through)."""


def data_tier(
    settings: StackSettings, profile: Profile, infrastructure: tuple[Infrastructure, ...], problems: list[Problem]
) -> DataTier:
    limits = {item.name: item.workload.limits.memory for item in infrastructure}
    postgres = overlay(profile.postgres, settings.postgres)
    if postgres.shared_buffers >= limits[POSTGRES.name] // 2:
        problems.append(
            Problem(
                ("postgres", "sharedBuffers"),
                f"expected less than half the memory limit ({limits[POSTGRES.name]}); the rest is for connections "
                "and the OS cache",
                str(postgres.shared_buffers),
            )
        )
    redis = overlay(profile.redis, settings.redis)
    if redis.maxmemory > limits[REDIS.name] * 0.8:
        problems.append(
            Problem(
                ("redis", "maxmemory"),
                f"expected at most 80% of the memory limit ({limits[REDIS.name]}); Redis needs headroom to rewrite "
                "its append-only file without being killed",
                str(redis.maxmemory),
            )
        )
    overrides = settings.kafka.topics if settings.kafka else {}
    names = [t.name for t in TOPICS] + sorted(set(overrides) - {t.name for t in TOPICS})
    grants = {t.name: {"producers": t.producers, "consumers": t.consumers} for t in TOPICS}
    topics = []
    for name in names:
        if not TOPIC_NAME.fullmatch(name):
            problems.append(
                Problem(
                    (KAFKA.name, "topics", name),
                    "expected a topic name of lower-case letters, digits, '.', '_' or '-'",
                )
            )
        default = Topic(name=name, **grants.get(name, {}), **profile.topics.model_dump())
        topics.append(overlay(default, overrides.get(name, TopicSettings())))
    return DataTier(
        postgres=postgres, redis=redis, topics=tuple(topics), health=profile.health, protect_data=profile.protect_data
    )
