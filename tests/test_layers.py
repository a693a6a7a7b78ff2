"""The folder tree of `components/` is its architecture, and no import runs upward through it.

Layers, bottom up: `docker/` (the hardened container and its helpers), the foundation (`network`, `pki`,
`secrets`), the concerns (`data/`, `app/`, `gateway/`, `observability/`, and `jwt`, the token keys built on the
secrets' delivery; they never import each other: what one needs of another reaches it through `platform.py` as an
argument), and `platform.py` on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[1] / "components"

LAYERS: dict[str, int] = {
    "docker": 0,
    "network": 1,
    "pki": 1,
    "secrets": 1,
    "data": 2,
    "app": 2,
    "gateway": 2,
    "observability": 2,
    "jwt": 2,
    "platform": 3,
}


def unit(module: str) -> str:
    """`components.data.redis` -> `data`; `components.pki` -> `pki`."""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    found |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name for name in found if name.startswith("components.")}


def test_every_module_sits_in_a_known_layer() -> None:
    units = {path.relative_to(COMPONENTS).parts[0].removesuffix(".py") for path in COMPONENTS.rglob("*.py")}
    assert units - {"__init__"} == set(LAYERS)


def test_no_import_runs_upward_or_across_the_concerns() -> None:
    problems = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        module = "components." + ".".join(path.relative_to(COMPONENTS).with_suffix("").parts)
        if module.endswith(".__init__"):
            continue
        own = unit(module)
        for target in sorted(imports(path)):
            other = unit(target)
            if other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:
                problems.append(f"{module} imports {target} ({other} is not below {own})")
    assert not problems, "\n".join(problems)
