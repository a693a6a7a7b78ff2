"""Every image folder of the repository carries the labels `make images` requires and `make e2e` reports.

The e2e report lists each component as real software or a stand-in from the kind label, and tests/images checks
each image against the official one its stands-for label names.
"""

from __future__ import annotations

from scripts.images import discover


def test_every_image_folder_of_the_repository_carries_its_labels() -> None:
    specs = discover()
    assert set(specs) >= {"postgres", "redis", "kafka", "kong", "grafana", "loader"}
    for name, spec in specs.items():
        assert spec.label_problems() == [], name
