"""Build the configuration the Pulumi CLI would hand the program, from files and `--set` flags.

What the CLI does and we reproduce: read `Pulumi.<stack>.yaml`; put keys without a namespace into the
project's; apply `pulumi config set --path` edits; fill in the defaults that `Pulumi.yaml` declares for
unset project keys and check declared types; pass every value as a string (objects as JSON) and list the
keys that hold a secret. A `secure:` value is ciphertext we cannot decrypt offline; it becomes a marked
placeholder, still secret, so the render shows `[secret]` exactly where `pulumi preview` would.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plan.engine import StackConfig
from plan.simulate import digest, marked


class StackFileError(Exception):
    """A stack file, project file or `--set` flag that cannot be used; exits 2 like a config error."""


@dataclass(frozen=True)
class Project:
    name: str
    directory: Path
    declarations: dict[str, dict[str, Any]]
    """`Pulumi.yaml`'s `config:` block: key -> {type, description, default}."""

    @classmethod
    def load(cls, directory: Path) -> Project:
        document = _read_yaml(directory / "Pulumi.yaml")
        declarations = document.get("config") or {}
        return cls(name=str(document["name"]), directory=directory, declarations=declarations)


_PATH_TOKEN = re.compile(r'\.?([A-Za-z0-9_\-]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> list[str | int]:
    """`services.payment-gateway.limits.memory`, `a["dotted.key"]`, `list[0]`, as `config set --path`."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match or (match.group(0).startswith(".") and not segments):
            raise StackFileError(f"invalid config path {path!r} near position {position}")
        name, index, quoted = match.groups()
        segments.append(
            int(index) if index is not None else (json.loads(f'"{quoted}"') if quoted is not None else name)
        )
        position = match.end()
    if not segments or not isinstance(segments[0], str):
        raise StackFileError(f"invalid config path {path!r}: it must start with a key name")
    return segments


def _set_path(root: dict[str, Any], segments: list[str | int], value: Any) -> None:
    node: Any = root
    for segment, following in itertools.pairwise(segments):
        _make_room(node, segment)
        if (node[segment] if isinstance(segment, int) else node.get(segment)) is None:
            node[segment] = [] if isinstance(following, int) else {}
        node = node[segment]
    _make_room(node, segments[-1])
    node[segments[-1]] = value


def _make_room(node: Any, segment: str | int) -> None:
    """Check `node` can hold `segment`, growing a list up to the index if needed."""
    if isinstance(segment, int):
        if not isinstance(node, list):
            raise StackFileError(f"cannot index [{segment}] into a value that is not a list")
        node.extend([None] * (segment + 1 - len(node)))
    elif not isinstance(node, dict):
        raise StackFileError(f"cannot set key {segment!r} inside a value that is not a map")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not valid YAML: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path}: expected a YAML mapping at the top level")
    return document


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def secure_placeholder(key: str, path: str, ciphertext: str, prefix: str = "") -> str:
    """The stand-in for the `secure:` value at `path`: derived from the ciphertext, so setting a new value (a new
    ciphertext) changes it and a diff shows the change, and starting with `prefix`, the shape the program requires
    of that secret (a Stripe key's `sk_`), so a real stack file renders. The ciphertext is public: nothing leaks."""
    return prefix + marked(digest("config", key, path, ciphertext), 48)


def _strip_secure(key: str, value: Any, path: str, prefixes: Mapping[str, str]) -> tuple[Any, bool]:
    """Replace `{secure: ...}` ciphertexts by marked placeholders; report whether any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return secure_placeholder(key, path, str(value["secure"]), prefixes.get(path, "")), True
        found = False
        out = {}
        for k, v in value.items():
            out[k], hit = _strip_secure(key, v, f"{path}.{k}", prefixes)
            found |= hit
        return out, found
    if isinstance(value, list):
        items = [_strip_secure(key, v, f"{path}[{i}]", prefixes) for i, v in enumerate(value)]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


def _parse_assignment(text: str, flag: str) -> tuple[str, Any]:
    path, sep, raw = text.partition("=")
    if not sep or not path:
        # A malformed --set-secret is not echoed: the text may be the secret itself.
        raise StackFileError(f"{flag} expects PATH=VALUE" + (f", got {text!r}" if flag == "--set" else ""))
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def build(
    project: Project,
    stack: str,
    *,
    config_file: Path | None = None,
    sets: tuple[str, ...] = (),
    secret_sets: tuple[str, ...] = (),
    secret_prefixes: Mapping[str, str] | None = None,
) -> StackConfig:
    """The stack's configuration as the CLI would pass it to the program.

    `secret_prefixes`: config path (`payment-platform:secrets.stripe-api-key`) -> the prefix the program requires of
    that secret, given to the placeholder of a `secure:` value there."""
    stack_path = config_file or project.directory / f"Pulumi.{stack}.yaml"
    # Like the CLI, a stack without a stack file simply has no config yet (`--set` can supply it);
    # a file named with --config-file must exist.
    document = _read_yaml(stack_path) if config_file or stack_path.exists() else {}
    unknown = sorted(set(document) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"})
    if unknown:
        raise StackFileError(f"{stack_path}: unexpected top-level keys {unknown}; stack settings go under `config:`")
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{stack_path}: `config:` must be a mapping")

    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in raw.items():
        full = _qualify(project.name, str(key))
        values[full], is_secret = _strip_secure(full, copy.deepcopy(value), full, secret_prefixes or {})
        if is_secret:
            secret.add(full)

    _apply_assignments(project, values, secret, sets, secret_sets)

    for key, declaration in project.declarations.items():
        full = _qualify(project.name, key)
        if full not in values and isinstance(declaration, dict) and "default" in declaration:
            values[full] = declaration["default"]
        if full in values and isinstance(declaration, dict):
            _check_declared_type(stack, full, values[full], declaration.get("type"))
    return StackConfig(values=values, secret_keys=frozenset(secret))


def _apply_assignments(
    project: Project, values: dict[str, Any], secret: set[str], sets: tuple[str, ...], secret_sets: tuple[str, ...]
) -> None:
    """Apply `--set`/`--set-secret` edits in order, like successive `pulumi config set --path` calls."""
    for flag, assignments in (("--set", sets), ("--set-secret", secret_sets)):
        for assignment in assignments:
            path, value = _parse_assignment(assignment, flag)
            namespace, _, rest = path.partition(":") if ":" in path.split(".")[0] else ("", "", path)
            segments = parse_path(rest)
            full = f"{namespace or project.name}:{segments[0]}"
            if len(segments) > 1 and not isinstance(values.get(full), (dict, list)):
                values[full] = [] if isinstance(segments[1], int) else {}
            _set_path(values, [full, *segments[1:]], value)
            if flag == "--set-secret":
                secret.add(full)


def _check_declared_type(stack: str, key: str, value: Any, declared: str | None) -> None:
    """The CLI refuses a value of the wrong type for a declared key before the program starts."""
    checks = {
        "string": lambda v: not isinstance(v, (dict, list)),
        "integer": lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, str) and re.fullmatch(r"-?\d+", v) is not None)
        ),
        "boolean": lambda v: isinstance(v, bool) or v in ("true", "false"),
        "array": lambda v: isinstance(v, list),
    }
    check = checks.get(declared or "")
    if check and not check(value):
        raise StackFileError(f"Stack '{stack}' with configuration key '{key}' must be of type '{declared}'")
