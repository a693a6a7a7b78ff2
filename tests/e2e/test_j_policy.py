"""j. The policy pack under the real CLI: `pulumi preview --policy-pack policy` passes for dev and for a
prod-profile stack (on a first preview too, where computed values are unknown), and stops a deliberately
insecure setting with a mandatory violation."""

from __future__ import annotations

import json

import pytest

from tests.e2e.live import Live

POLICY = "policy"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_pack_passes(live: Live, stack: str) -> None:
    out = live.pulumi("preview", "--policy-pack", POLICY, "--policy-pack-config", _config(live, stack), stack=stack)
    assert "can't run" not in out.stdout + out.stderr, "a policy was skipped during preview"
    assert "violation" not in out.stdout.lower() or "mandatory" not in out.stdout.lower(), out.stdout[-3000:]


def test_an_insecure_setting_is_stopped(live: Live) -> None:
    """Secrets as environment variables in prod break PAY-SECRET-ENV (secrets reach prod containers as files)."""
    live.config_set("secretDelivery", "env", stack="prod")
    try:
        out = live.pulumi(
            "preview", "--policy-pack", POLICY, "--policy-pack-config", _config(live, "prod"), stack="prod", check=False
        )
        assert out.returncode != 0
        assert "mandatory" in out.stdout.lower() and "PAY-SECRET-ENV" in out.stdout, out.stdout[-3000:]
    finally:
        live.config_rm("secretDelivery", stack="prod")


def _config(live: Live, profile: str) -> str:
    path = live.root / f"policy-{profile}.json"
    policies = ("container-hardening", "documented-exceptions")
    path.write_text(json.dumps({policy: {"profile": profile} for policy in policies}))
    return str(path)
