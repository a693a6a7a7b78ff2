"""The one way a stack's settings override a default: field by field, where the stack set a value.

A settings model (`stacks.models.StackSettings` and its parts) mirrors a resolved model with every field
optional; `overlay` lays it over the default (a profile's, or the catalog's), descending into nested models
(`limits.cpus`), so a stack that sets one field of a block keeps the default of every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def overlay(base: M, given: BaseModel | Mapping[str, Any] | None) -> M:
    """`base` with each field `given` sets (not None) replaced; nested models are overlaid field by field.

    `given` is a settings model, or a mapping by field name for settings that sit at the top level of the stack
    (`logMaxSize`). Fields of `given` that `base` lacks are ignored: a settings block may hold more than one
    resolved model.
    """
    if given is None:
        return base
    update = {}
    for name in type(base).model_fields:
        value = given.get(name) if isinstance(given, Mapping) else getattr(given, name, None)
        if value is None:
            continue
        current = getattr(base, name)
        update[name] = overlay(current, value) if isinstance(current, BaseModel) else value
    return base.model_copy(update=update)
