"""f. Offline against real: the offline render of a stack without state equals what `pulumi preview --json`
plans for it (resources, types, parents, inputs; provider-computed values aside), for the dev and the prod
profile; and for each change below, the resources `plan diff` marks as replaced (updated in place) are the ones
the real preview replaces (updates) on the deployed dev stack.

No configuration key changes a data volume's labels (they are project, stack and profile), so the issue's
"data-volume label" change has no stack-config form to compare; the volumes' protection is covered by i."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from plan import Render, render
from plan.diff import diff
from plan.preview import differences, replaced, updated
from tests.e2e.conftest import FRESH_PREVIEW
from tests.e2e.live import Live

CHANGES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "one service's memory": (("services.order-service.limits.memory", "384M", False),),
    "a new service": (
        ("services.loyalty-service.port", "40030", False),
        ("services.loyalty-service.database", "payment_loyalty", False),
    ),
    "rotation.jwt-secret": (("rotation.jwt-secret", "1", False),),
    "a Stripe key set as a secret": (
        ("secrets.stripe-api-key", "sk_test_" + "e2e" * 12, True),
        ("secrets.stripe-webhook-secret", "whsec_" + "e2e" * 12, True),
    ),
    "a CA rotation": (("rotation.ca", "1", False),),
}
"""(key, value, secret) edits made with `pulumi config set [--secret] --path`. The values are throwaway test
credentials of this run's stack; they go in on stdin, never on a command line."""


def test_the_dev_render_equals_the_real_preview_of_a_fresh_stack(deployed: Live, expected: Render) -> None:
    preview = json.loads((deployed.root / FRESH_PREVIEW).read_text())
    assert differences(expected.to_json(), preview) == []
    deployed.results["freshPreviewResources"] = {"dev": len(preview["steps"])}


def test_the_prod_render_equals_the_real_preview_of_a_fresh_stack(live: Live) -> None:
    preview = live.preview_json(stack="prod")
    assert differences(render("prod", config_file=live.stack_file("prod")).to_json(), preview) == []
    live.results.setdefault("freshPreviewResources", {})["prod"] = len(preview["steps"])


@pytest.fixture
def restored(deployed: Live) -> Iterator[Live]:
    """The dev stack file as it was: each change is previewed, never applied."""
    path = deployed.stack_file("dev")
    saved = path.read_text()
    try:
        yield deployed
    finally:
        path.write_text(saved)


@pytest.mark.parametrize("change", list(CHANGES))
def test_plan_diff_replaces_what_the_real_preview_replaces(restored: Live, change: str) -> None:
    live = restored
    before = render("dev", config_file=live.stack_file("dev")).to_json()
    for key, value, secret in CHANGES[change]:
        live.config_set(key, value, secret=secret)
    after = render("dev", config_file=live.stack_file("dev")).to_json()
    offline = diff(before, after)
    preview = live.preview_json()
    for action, real in (("replace", replaced(preview)), ("update", updated(preview))):
        ours = {c.urn for c in offline.of(action)}
        assert ours == real, {action: {"only offline": sorted(ours - real), "only real": sorted(real - ours)}}
    assert offline.changes, f"{change}: the offline diff changes nothing"
    live.results.setdefault("changedByChange", {})[change] = {a: len(offline.of(a)) for a in ("replace", "update")}
