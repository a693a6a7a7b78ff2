"""scripts/images.py's reading of images/<name>/Dockerfile, without an engine: labels, FROM parents, order."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.images import KIND_LABEL, STANDS_FOR_LABEL, TITLE_LABEL, BuildError, build_order, discover, read_spec

LABELS = (
    f'LABEL {TITLE_LABEL}="payment-platform x (Debian)" \\\n'
    "      # a comment inside the continuation\n"
    f'      {STANDS_FOR_LABEL}="x:1.2.3" \\\n'
    f"      {KIND_LABEL}=local-build\n"
)


def folder(root: Path, name: str, dockerfile: str) -> Path:
    (root / name).mkdir()
    (root / name / "Dockerfile").write_text(dockerfile)
    return root / name


def test_labels_across_continuation_lines_and_comments_are_read(tmp_path: Path) -> None:
    spec = read_spec(folder(tmp_path, "x", f"FROM payment-local/debian:bookworm\n{LABELS}RUN true\n"))
    assert spec.labels == {
        TITLE_LABEL: "payment-platform x (Debian)",
        STANDS_FOR_LABEL: "x:1.2.3",
        KIND_LABEL: "local-build",
    }
    assert spec.label_problems() == []


def test_a_missing_label_a_wrong_kind_and_a_registry_parent_are_each_named(tmp_path: Path) -> None:
    dockerfile = f'FROM debian:bookworm\nLABEL {TITLE_LABEL}="t" {KIND_LABEL}=official\n'
    problems = read_spec(folder(tmp_path, "x", dockerfile)).label_problems()
    assert f"no LABEL {STANDS_FOR_LABEL}" in problems
    assert any(f"{KIND_LABEL}='official', expected one of local-build, stand-in" in p for p in problems)
    assert any(p.startswith("FROM debian:bookworm: not a local image") for p in problems)


def test_local_parents_are_built_first_and_cycles_and_unknown_names_are_refused(tmp_path: Path) -> None:
    specs = {
        "base": read_spec(folder(tmp_path, "base", f"FROM payment-local/debian:bookworm\n{LABELS}")),
        "child": read_spec(folder(tmp_path, "child", f"FROM payment-local/base:local\n{LABELS}")),
    }
    assert build_order(specs, ["child"]) == ["base", "child"]
    with pytest.raises(BuildError, match=r"no folder images/nope; known: base, child"):
        build_order(specs, ["nope"])
    specs["base"] = read_spec(folder(tmp_path, "loop", f"FROM payment-local/child:local\n{LABELS}"))
    with pytest.raises(BuildError, match=r"^FROM cycle: child -> base -> child$"):
        build_order(specs, ["child"])


def test_every_image_folder_of_the_repository_carries_its_labels() -> None:
    specs = discover()
    assert set(specs) >= {"postgres", "redis", "kafka", "kong", "grafana", "loader"}
    for name, spec in specs.items():
        assert spec.label_problems() == [], name
