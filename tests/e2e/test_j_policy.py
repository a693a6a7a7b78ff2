"""j. The policy pack under the real CLI: `pulumi preview --policy-pack policy` passes for dev and for a
prod-profile stack (on a first preview too, where computed values are unknown), and stops a deliberately
insecure setting with a mandatory violation.

The insecure setting: secrets delivered as environment variables, judged by the prod profile's pack (PAY-SECRET-ENV)
on the deployed dev stack, which delivers them so. On a first preview of a stack the values of those variables
are unknown (they hold generated passwords), so there the rule can only decide when `pulumi up` runs the pack on
the final state; a stack with state shows them, and the preview stops."""

from __future__ import annotations

import json

import pytest

from tests.e2e.live import Live

POLICY = "policy"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_pack_passes(live: Live, stack: str) -> None:
    out = live.pulumi("preview", "--policy-pack", POLICY, "--policy-pack-config", _config(live, stack), stack=stack)
    assert "can't run" not in out.stdout + out.stderr, "a policy was skipped during preview"


def test_an_insecure_setting_is_stopped(deployed: Live) -> None:
    assert deployed.stack_document()["config"].get("payment-platform:secretDelivery") in (None, "env")
    prod_pack = _config(deployed, "prod")
    out = deployed.pulumi("preview", "--policy-pack", POLICY, "--policy-pack-config", prod_pack, check=False)
    assert out.returncode != 0
    assert "mandatory" in out.stdout.lower() and "PAY-SECRET-ENV" in out.stdout, out.stdout[-3000:]


def _config(live: Live, profile: str) -> str:
    path = live.root / f"policy-{profile}.json"
    policies = ("container-hardening", "documented-exceptions")
    path.write_text(json.dumps({policy: {"profile": profile} for policy in policies}))
    return str(path)
