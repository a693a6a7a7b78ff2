"""Sizes and CPU counts parse once, into numbers, and print canonically."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stacks.units import ByteSize, Cpus


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512M", 512 * 1024**2),
        ("1G", 1024**3),
        ("1g", 1024**3),
        ("10m", 10 * 1024**2),
        ("1.5G", 1536 * 1024**2),
        ("256Mi", 256 * 1024**2),
        ("2GB", 2 * 1024**3),
        ("64K", 64 * 1024),
        (1048576, 1024**2),
        ("1048576", 1024**2),
    ],
)
def test_size_parses(text: str | int, expected: int) -> None:
    assert ByteSize.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "12X", "M", "100i", "1KK", "-1G", "0", "1.5", "0.1K", "1e3M", True, 1.5, None, [1]]
)
def test_size_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        ByteSize.parse(text)


@pytest.mark.parametrize(("text", "canonical"), [("512M", "512M"), ("1024M", "1G"), ("1536M", "1536M"), ("10m", "10M")])
def test_size_prints_canonically(text: str, canonical: str) -> None:
    assert str(ByteSize.parse(text)) == canonical


def test_size_in_mebibytes_rounds_up() -> None:
    assert ByteSize.parse("512M").mebibytes == 512
    assert ByteSize.parse("1025K").mebibytes == 2


def test_docker_spelling_is_lower_case() -> None:
    assert ByteSize.parse("10M").docker() == "10m"


@pytest.mark.parametrize(
    ("value", "expected"), [("0.5", "0.5"), (2, "2"), ("1.0", "1"), (0.25, "0.25"), ("1.50", "1.5")]
)
def test_cpus_parse(value: object, expected: str) -> None:
    assert str(Cpus.parse(value)) == expected


@pytest.mark.parametrize("value", ["0", "-1", "abc", "0.001", "nan", "inf", True, None])
def test_cpus_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        Cpus.parse(value)


def test_cpus_compare_and_give_shares() -> None:
    assert Cpus.parse("0.5") < Cpus.parse("1")
    assert Cpus.parse("0.5").shares == 512
    assert Cpus.parse("2") == Decimal(2)
