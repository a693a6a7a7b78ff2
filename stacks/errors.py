"""Configuration problems, reported one line each, all at once, before any resource exists.

Each line names the key as the user would type it for `pulumi config set --path`, the offending value
(never the value of a secret key) and what was expected. `ConfigError` is a `pulumi.RunError`, which
the Pulumi CLI prints without a Python traceback.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError

from stacks.text import one_line
from vocabulary import SECRET

_NO_VALUE = object()
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def format_path(segments: Sequence[str | int]) -> str:
    """A config path in `pulumi config set --path` syntax: `services.payment-gateway.limits.memory`."""
    out = ""
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif _PLAIN_SEGMENT.fullmatch(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment)}]"
    return out


@dataclass(frozen=True)
class Problem:
    path: tuple[str | int, ...]
    expected: str
    """What was wrong or what was expected, as a sentence fragment."""
    value: Any = _NO_VALUE
    secret: bool = False

    def line(self, namespace: str) -> str:
        key = f"{namespace}:{format_path(self.path)}"
        # `expected` may quote a key the user wrote (`unknown service 'x\n'`): escaped, the line stays one line.
        expected = one_line(self.expected)
        if self.value is _NO_VALUE:
            return f"{key}: {expected}"
        shown = SECRET if self.secret else _show(self.value)
        return f"{key} = {shown}: {expected}"


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


class ConfigError(pulumi.RunError):
    """Invalid stack configuration; `problems` holds one entry per mistake."""

    def __init__(self, namespace: str, stack: str, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        self.lines = tuple(p.line(namespace) for p in self.problems)
        header = f"invalid configuration for stack '{stack}'"
        if len(self.lines) == 1:
            message = f"{header}: {self.lines[0]}"
        else:
            message = f"{header} ({len(self.lines)} problems):\n" + "\n".join(f"  {line}" for line in self.lines)
        super().__init__(message)


def suggest(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` for a near miss or an abbreviation of exactly one candidate, else nothing."""
    options = list(candidates)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    if not close and len(word) >= 3:
        close = [o for o in options if o.startswith(word)]
    return f"; did you mean '{close[0]}'?" if len(close) == 1 else ""


def problems_from_validation(
    error: ValidationError, model: type[BaseModel], secret_keys: frozenset[str]
) -> list[Problem]:
    """Translate pydantic's errors into config problems with user-facing key paths."""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        secret = bool(loc) and str(loc[0]) in secret_keys
        kind = item["type"]
        value = item.get("input", _NO_VALUE)
        if kind == "extra_forbidden":
            allowed = _keys_at(model, loc[:-1])
            problems.append(
                Problem(loc, f"unknown key{suggest(str(loc[-1]), allowed)} (expected one of: {', '.join(allowed)})")
            )
            continue
        problems.append(Problem(loc, _expected(item), value, secret))
    return problems


def _expected(item: Any) -> str:
    kind = item["type"]
    ctx = item.get("ctx", {})
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "literal_error":
        return f"expected {ctx['expected']}"
    if kind == "enum":
        return f"expected {ctx['expected']}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind == "greater_than_equal":
        return f"expected at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"expected at most {ctx['le']}"
    if kind in ("ip_v4_address",):
        return "expected an IPv4 address such as 127.0.0.1"
    if kind in ("ip_v4_network",):
        return "expected an IPv4 network in CIDR form, such as 172.28.0.0/16, with no host bits set"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a map of keys (set nested values with `pulumi config set --path`)"
    if kind in ("string_type",):
        return "expected a string"
    if kind == "missing":
        return "required"
    msg = str(item["msg"])
    return msg[:1].lower() + msg[1:]


def _keys_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The config keys accepted at `loc` inside `model`, for "unknown key" messages."""
    current: Any = model
    for segment in loc:
        current = _field_model(current, segment)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted((f.alias or name) for name, f in current.model_fields.items())
    return []


def _field_model(model: Any, segment: Any) -> Any:
    """Step from a model (or a dict of models) into the model type found under `segment`."""
    if isinstance(model, tuple):  # ("dict", value_type): any key leads to the value type
        return unwrap_optional(model[1])
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    for name, field in model.model_fields.items():
        if segment in (name, field.alias):
            annotation = unwrap_optional(field.annotation)
            if typing.get_origin(annotation) is dict:
                return ("dict", typing.get_args(annotation)[1])
            return annotation
    return None


def unwrap_optional(annotation: Any) -> Any:
    """Strip `X | None` down to `X`."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation
