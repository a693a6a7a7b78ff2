"""`stacks.resolve.merge.overlay`: the one way a stack's settings override a default."""

from __future__ import annotations

from ipaddress import IPv4Address

from stacks.models import Publish, Resources, ResourcesSettings, Workload, WorkloadSettings
from stacks.profiles import PROFILES
from stacks.resolve.merge import overlay
from stacks.units import ByteSize, Cpus

BASE = PROFILES["dev"].service


def test_a_field_set_in_a_nested_block_keeps_every_other_default() -> None:
    given = WorkloadSettings(limits=ResourcesSettings(memory=ByteSize.parse("1G")))
    merged = overlay(BASE, given)
    assert merged.limits.memory == ByteSize.parse("1G")
    assert merged.limits.cpus == BASE.limits.cpus
    assert (merged.reservations, merged.publish) == (BASE.reservations, BASE.publish)


def test_false_is_a_value_not_a_gap() -> None:
    """`enabled: false` must switch publishing off: an `or`-merge would read it as "not set"."""
    base = Workload(
        limits=Resources(cpus=Cpus.parse("1"), memory=ByteSize.parse("64M")),
        reservations=Resources(cpus=Cpus.parse("0.5"), memory=ByteSize.parse("32M")),
        publish=Publish(enabled=True, address=IPv4Address("127.0.0.1")),
    )
    assert overlay(base, WorkloadSettings.model_validate({"publish": {"enabled": False}})).publish.enabled is False
    assert overlay(base, {"publish": {"enabled": False}}).publish.enabled is False
    assert overlay(base, {"publish": {"enabled": None}}).publish.enabled is True


def test_nothing_given_is_the_default_itself_and_a_mapping_names_fields() -> None:
    assert overlay(BASE, None) is BASE
    logging = PROFILES["prod"].logging
    assert overlay(logging, {"max_files": 7, "max_size": None}).max_files == 7
    assert overlay(logging, {"max_files": 7, "max_size": None}).max_size == logging.max_size
