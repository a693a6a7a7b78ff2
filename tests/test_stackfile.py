"""What the stack files must be for the real Pulumi CLI, and how the offline renderer reads their secrets.

The stack-file reader itself (plan/stackfile.py) is exercised by every render with `--set`; these hold the
project file to the typed model the CLI and the program share, a `secure:` value to a secret, and a misplaced
setting to a message that says where it goes.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from plan import PROJECT_DIR, Project, StackFileError
from plan.simulate import SECRET_MARKER
from plan.stackfile import build
from stacks.errors import unwrap_optional
from stacks.models import StackSettings


def _project(tmp_path: Path, stack_text: str) -> Project:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: demo\nruntime: python\n"
        "config:\n  size:\n    type: integer\n    default: 3\n  label:\n    type: string\n",
        encoding="utf-8",
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text, encoding="utf-8")
    return Project.load(tmp_path)


def test_secure_values_become_marked_secrets(tmp_path: Path) -> None:
    project = _project(tmp_path, "config:\n  demo:db:\n    user: app\n    password:\n      secure: AAAB\n")
    config = build(project, "dev")
    assert config.secret_keys == {"demo:db"}
    assert config.values["demo:db"]["user"] == "app"
    assert config.values["demo:db"]["password"].startswith(SECRET_MARKER)


def test_stray_top_level_keys_in_a_stack_file_are_refused(tmp_path: Path) -> None:
    """Settings outside `config:` (which `pulumi up` would not pass to the program): `make plan` says where they go."""
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
        == {"networkSubnet", "dockerDataRoot", "dockerSocketGroup", "demo"}
    )
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    for key in set(expected) - set(declared):
        row = re.search(rf"^\| `{key}` \|(?:[^|\\]|\\.)*\| ([^|]*) \|", readme, re.M)  # `\|` inside a cell
        assert row, f"{key}: not declared in Pulumi.yaml, so the README's configuration reference must document it"
        assert row.group(1).startswith(("profile", "the stack name")), f"{key}: its default is {row.group(1)!r}"
