"""Hold the offline engine to the real one: a render against what `pulumi preview --json` planned.

The offline render (`python -m plan render --format json`) and `plan diff` are our pull-request diff; they are
only worth reading if they agree with the real engine. `make e2e` (tests/e2e/test_f_offline.py) previews real
stacks and checks, with the functions here:

* `differences(render, preview)`: for a stack with no state, the same resources (URNs), types, parents and
  inputs. Provider-computed values aside: an input the real engine cannot know yet (an image id, a certificate)
  is an unknown there and is not compared, and inputs the provider filled with its defaults (`__defaults`)
  are not the program's and are dropped.
* `replaced(preview)`, `updated(preview)`: the URNs a preview replaces and updates in place, to compare with the
  `replace` and `update` changes of `plan diff`.

Pure functions over the two JSON documents, so they are tested without a CLI (tests/test_preview_compare.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vocabulary import SECRET, STACK_TYPE, UNKNOWN, holds

UNKNOWN_SENTINELS = frozenset(
    {
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
"""How `pulumi preview --json` writes a value the engine cannot know before `up` (the engine's unknown sentinels)."""
DEFAULTS = "__defaults"
"""Keys of an object the provider filled in with its defaults (listed in the object itself)."""
REPLACING = frozenset({"replace", "create-replacement", "delete-replaced"})
"""Step operations that mean the resource is replaced."""


def without_defaults(value: Any) -> Any:
    """`value` without the keys the provider defaulted (and without the `__defaults` lists themselves)."""
    if isinstance(value, Mapping):
        defaulted = set(value.get(DEFAULTS) or ())
        return {k: without_defaults(v) for k, v in value.items() if k != DEFAULTS and k not in defaulted}
    if isinstance(value, list):
        return [without_defaults(v) for v in value]
    return value


def _compare(path: str, ours: Any, theirs: Any) -> Iterator[str]:
    if (isinstance(theirs, str) and theirs in UNKNOWN_SENTINELS) or ours == UNKNOWN:
        return  # computed by the provider during `up`: the render simulates it, the preview cannot know it
    if theirs == SECRET and holds(ours, SECRET):
        return  # the engine shows a whole list or object as secret when any part of it is
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        for key in sorted(ours.keys() | theirs.keys()):
            if key not in theirs:
                yield f"{path}.{key}: rendered {ours[key]!r}, absent from the preview"
            elif key not in ours:
                yield f"{path}.{key}: absent from the render, previewed {theirs[key]!r}"
            else:
                yield from _compare(f"{path}.{key}", ours[key], theirs[key])
    elif isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            yield from _compare(f"{path}[{index}]", mine, other)
    elif ours != theirs and not (ours == SECRET and theirs == SECRET):
        shown_ours = SECRET if SECRET in repr(ours) else repr(ours)
        shown_theirs = SECRET if SECRET in repr(theirs) else repr(theirs)
        yield f"{path}: rendered {shown_ours}, previewed {shown_theirs}"


def planned(preview: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """URN -> the new state of every step that has one."""
    return {step["urn"]: step["newState"] for step in preview.get("steps") or [] if step.get("newState")}


def differences(render: Mapping[str, Any], preview: Mapping[str, Any]) -> list[str]:
    """Where the render of a stateless stack differs from its real preview (empty when they agree)."""
    ours = {r["urn"]: r for r in render["resources"]}
    theirs = planned(preview)
    problems = [f"{urn}: rendered, not in the preview" for urn in sorted(ours.keys() - theirs.keys())]
    problems += [
        f"{urn}: in the preview, not rendered"
        for urn in sorted(theirs.keys() - ours.keys())
        if theirs[urn].get("type") != STACK_TYPE
    ]
    for urn in sorted(ours.keys() & theirs.keys()):
        mine, other = ours[urn], theirs[urn]
        name = urn.rsplit("::", 1)[-1]
        if mine["type"] != other.get("type"):
            problems.append(f"{name}: type {mine['type']} rendered, {other.get('type')} previewed")
        if (mine.get("parent") or None) != (other.get("parent") or None):
            problems.append(f"{name}: parent {mine.get('parent')} rendered, {other.get('parent')} previewed")
        if mine.get("custom"):
            problems += [f"{name}: {p}" for p in _compare("inputs", mine["inputs"], without_defaults(other["inputs"]))]
    return problems


def replaced(preview: Mapping[str, Any]) -> set[str]:
    """URNs the preview replaces."""
    return {step["urn"] for step in preview.get("steps") or [] if step.get("op") in REPLACING}


def updated(preview: Mapping[str, Any]) -> set[str]:
    """URNs the preview updates in place."""
    return {step["urn"] for step in preview.get("steps") or [] if step.get("op") == "update"}
