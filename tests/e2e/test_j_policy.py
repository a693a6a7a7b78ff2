"""j. The policy pack under the real CLI (issue 15): `pulumi preview --policy-pack policy` passes a dev and a prod
preview with the pack config `make preview` writes, and a dev preview with none at all (the pack used to default to
the prod rules and stopped every dev preview); it stops an insecure setting, a pack config naming another stack,
and a pack config that switches the hardening policy off.

The pack learns the stack from the engine (its `ConfigureStack` call), so these run the pack exactly as `make
preview`/`make up` do. The insecure setting: PostgreSQL published on every host address of the dev stack. The
program allows it in dev (the dev profile publishes anywhere), the policy does not (only the gateway's public port):
on a first preview too, since published ports are known before `pulumi up`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from policy.adapter import HARDENING, pack_config
from tests.e2e.live import Live, pulumi_diagnostics

POLICY = "policy"
PUBLIC_POSTGRES = ("postgres.publish.address", "0.0.0.0")


def _config(live: Live, stack: str, document: object | None = None) -> str:
    """The `--policy-pack-config` file: what `make preview STACK=<stack>` writes (policy.config), or `document`."""
    path = live.root / f"policy-{stack}.json"
    path.write_text(json.dumps(pack_config(stack) if document is None else document))
    return str(path)


def _preview(live: Live, stack: str, *config: str) -> tuple[int, str]:
    out = live.pulumi("preview", "--policy-pack", POLICY, *config, stack=stack, check=False)
    return out.returncode, out.stdout + out.stderr


def _mandatory(text: str) -> list[str]:
    """Each mandatory policy finding's lines, as the CLI prints them under `Policies:`."""
    lines = text.splitlines()
    return ["\n".join(lines[i : i + 3]) for i, line in enumerate(lines) if "[mandatory]" in line]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_pack_passes_a_real_preview(live: Live, stack: str) -> None:
    code, text = _preview(live, stack, "--policy-pack-config", _config(live, stack))
    assert "can't run" not in text, "a policy was skipped during preview"
    assert code == 0 and not _mandatory(text), pulumi_diagnostics(text) or text[-3000:]
    assert "exception CIS-" in text, "the advisory policy listed no documented exception: did the pack run?"


def test_a_dev_preview_passes_without_any_pack_config(live: Live) -> None:
    """Issue 15: without `--policy-pack-config` the pack applied the prod rules and stopped on 62 violations."""
    code, text = _preview(live, "dev")
    assert code == 0 and not _mandatory(text), pulumi_diagnostics(text) or text[-3000:]
    assert "exception CIS-" in text


def test_a_pack_config_naming_another_stack_stops_a_prod_preview(live: Live) -> None:
    """The rules follow the stack the engine runs, never the pack's config: a prod preview told it is dev stops."""
    code, text = _preview(live, "prod", "--policy-pack-config", _config(live, "prod-as-dev", pack_config("dev")))
    assert code != 0
    assert any('policy config stack = "dev", but the engine runs stack "prod"' in m for m in _mandatory(text)), text[
        -3000:
    ]


@pytest.fixture
def public_postgres(live: Live) -> Iterator[None]:
    """The dev stack with PostgreSQL published on every address, for one test; the setting is removed after it."""
    live.config_set(*PUBLIC_POSTGRES)
    try:
        yield
    finally:
        live.config_rm(PUBLIC_POSTGRES[0])


@pytest.mark.usefixtures("public_postgres")
def test_an_insecure_setting_is_stopped(live: Live) -> None:
    code, text = _preview(live, "dev", "--policy-pack-config", _config(live, "dev"))
    assert code != 0
    found = _mandatory(text)
    assert any("violation CIS-5.14 payment-postgres-container: port 40432 is published on every" in m for m in found), (
        text[-3000:]
    )


@pytest.mark.usefixtures("public_postgres")
def test_the_hardening_policy_cannot_be_switched_off(live: Live) -> None:
    code, text = _preview(live, "dev", "--policy-pack-config", _config(live, "dev-disabled", {HARDENING: "disabled"}))
    assert code != 0
    found = _mandatory(text)
    assert any("set container-hardening to enforcement level disabled: it stays mandatory" in m for m in found)
    assert any("violation CIS-5.14 payment-postgres-container" in m for m in found), text[-3000:]
