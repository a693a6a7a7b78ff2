"""What the Pulumi CLI would hand the program: stack files, --set paths, declared defaults and types."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from plan import PROJECT_DIR, Project, StackFileError
from plan.simulate import SECRET_MARKER
from plan.stackfile import build, parse_path
from stacks.errors import unwrap_optional
from stacks.models import StackSettings


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("services.payment-gateway.limits.memory", ["services", "payment-gateway", "limits", "memory"]),
        ('services["my.service"].port', ["services", "my.service", "port"]),
        ("topics[0].name", ["topics", 0, "name"]),
        ("profile", ["profile"]),
    ],
)
def test_paths_parse_like_pulumi_config_set_path(path: str, segments: list[str | int]) -> None:
    assert parse_path(path) == segments


@pytest.mark.parametrize("path", ["", ".x", "a..b", "a[x]", "[0]", "a b"])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(StackFileError, match="invalid config path"):
        parse_path(path)


def _project(tmp_path: Path, stack_text: str) -> Project:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: demo\nruntime: python\n"
        "config:\n  size:\n    type: integer\n    default: 3\n  label:\n    type: string\n",
        encoding="utf-8",
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text, encoding="utf-8")
    return Project.load(tmp_path)


def test_sets_edit_nested_values_and_parse_yaml(tmp_path: Path) -> None:
    project = _project(tmp_path, "config:\n  demo:services:\n    a:\n      replicas: 2\n")
    config = build(project, "dev", sets=("services.a.limits.memory=1G", "services.b.replicas=3", "flag=true"))
    assert config.values["demo:services"] == {"a": {"replicas": 2, "limits": {"memory": "1G"}}, "b": {"replicas": 3}}
    assert config.values["demo:flag"] is True
    assert config.as_runtime_config()["demo:flag"] == "true"
    assert config.as_runtime_config()["demo:services"].startswith("{")


def test_keys_without_namespace_belong_to_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path, "config:\n  label: x\n  docker:host: unix:///var/run/docker.sock\n")
    config = build(project, "dev")
    assert config.values["demo:label"] == "x"
    assert config.values["docker:host"] == "unix:///var/run/docker.sock"


def test_declared_defaults_fill_unset_keys_only(tmp_path: Path) -> None:
    project = _project(tmp_path, "config: {}\n")
    assert build(project, "dev").values["demo:size"] == 3
    assert build(project, "dev", sets=("size=5",)).values["demo:size"] == 5
    assert "demo:label" not in build(project, "dev").values


def test_declared_types_are_enforced(tmp_path: Path) -> None:
    project = _project(tmp_path, "config: {}\n")
    with pytest.raises(StackFileError, match="'demo:size' must be of type 'integer'"):
        build(project, "dev", sets=("size=many",))


def test_secure_values_become_marked_secrets(tmp_path: Path) -> None:
    project = _project(tmp_path, "config:\n  demo:db:\n    user: app\n    password:\n      secure: AAAB\n")
    config = build(project, "dev")
    assert config.secret_keys == {"demo:db"}
    assert config.values["demo:db"]["user"] == "app"
    assert config.values["demo:db"]["password"].startswith(SECRET_MARKER)


def test_set_secret_marks_its_top_level_key(tmp_path: Path) -> None:
    project = _project(tmp_path, "config: {}\n")
    config = build(project, "dev", secret_sets=("secrets.jwt=abc",))
    assert config.secret_keys == {"demo:secrets"}
    assert config.values["demo:secrets"] == {"jwt": "abc"}


def test_a_missing_stack_file_is_an_empty_stack(tmp_path: Path) -> None:
    project = _project(tmp_path, "config: {}\n")
    assert build(project, "staging", sets=("label=x",)).values["demo:label"] == "x"


def test_stray_top_level_keys_in_a_stack_file_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, "services: {}\n")
    with pytest.raises(StackFileError, match="stack settings go under `config:`"):
        build(project, "dev")


def test_project_file_declares_only_the_scalar_keys_with_one_default_for_every_stack() -> None:
    """Pulumi.yaml's `config:` block and the typed model must not drift apart.

    The real Pulumi CLI refuses to run a stack that lacks a declared key without a `default` ("Stack 'dev' is
    missing configuration values ..."), and a declared `default` reaches the program as if set, overriding the
    profile. So a scalar key is declared with its one default, or not at all, and then the README's
    configuration reference gives its profile default.
    """
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    scalar_types = {int: "integer", str: "string", bool: "boolean"}
    expected = {}
    for name, field in StackSettings.model_fields.items():
        annotation = unwrap_optional(field.annotation)
        if typing.get_origin(annotation) is dict or (
            isinstance(annotation, type) and issubclass(annotation, BaseModel)
        ):
            continue  # structured: Pulumi's project schema cannot declare objects
        expected[field.alias or name] = field
    assert set(declared) <= set(expected)
    assert all(d["type"] in scalar_types.values() for d in declared.values())
    assert all(d.get("description") for d in declared.values())
    assert (
        {k for k, d in declared.items() if "default" in d}
        == set(declared)
        == {"networkSubnet", "dockerDataRoot", "demo"}
    )
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for key in set(expected) - set(declared):
        row = re.search(rf"^\| `{key}` \|(?:[^|\\]|\\.)*\| ([^|]*) \|", readme, re.M)  # `\|` inside a cell
        assert row, f"{key}: not declared in Pulumi.yaml, so the README's configuration reference must document it"
        assert row.group(1).startswith(("profile", "the stack name")), f"{key}: its default is {row.group(1)!r}"


def test_stack_files_of_both_stacks_render_clean() -> None:
    for stack in ("dev", "prod"):
        build(Project.load(PROJECT_DIR), stack)
