"""e. Idempotence: right after `pulumi up`, `pulumi preview --expect-no-changes` passes, and so does a second
`pulumi up --refresh` (a refresh that reads back anything else than what was declared is a spurious diff:
a defect to fix, never to allow-list). Also times a no-op `up` and a one-service change for the report."""

from __future__ import annotations

from tests.e2e.live import Live, inspect, wait_until_healthy


def test_preview_right_after_up_expects_no_changes(deployed: Live) -> None:
    deployed.pulumi("preview", "--expect-no-changes", label="no-op preview")


def test_up_with_refresh_changes_nothing(deployed: Live) -> None:
    deployed.pulumi("up", "--yes", "--refresh", "--expect-no-changes", "--skip-preview", label="no-op up --refresh")
    deployed.pulumi("up", "--yes", "--expect-no-changes", "--skip-preview", label="no-op up")


def test_one_service_memory_change_is_applied_in_place(deployed: Live) -> None:
    """Memory is updated in place by pulumi-docker: the same container, with the new limit, healthy."""
    name = "payment-order-service"
    before = inspect([name])[0]
    deployed.config_set("services.order-service.limits.memory", "320M")
    deployed.pulumi("up", "--yes", "--skip-preview", label="one-service change (memory)")
    after = inspect([name])[0]
    assert after["Id"] == before["Id"], "a memory change replaced the container"
    assert after["HostConfig"]["Memory"] == 320 * 1024 * 1024
    wait_until_healthy([name], timeout=60)
    deployed.pulumi("preview", "--expect-no-changes")
