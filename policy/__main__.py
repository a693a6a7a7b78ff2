"""The policy pack: `pulumi preview --policy-pack policy` runs policy_rules over the stack being deployed.

Thin on purpose: the rules are the functions `python -m plan check` runs offline (policy_rules/), and
`policy/adapter.py` (tested without Pulumi) turns the engine's resources into their records. The profile
comes from the pack's config (`pulumi preview --policy-pack-config`), prod by default: the strict one.
"""

import sys
from pathlib import Path

# The pack runs from policy/; the rules and the hardening exceptions live in the project above it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.adapter import validate


def _profile(args: StackValidationArgs) -> str:
    return str(args.get_config().get("profile", "prod"))


def hardening(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    validate(args.resources, _profile(args), report_violation)


def documented_exceptions(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    validate(args.resources, _profile(args), report_violation, exceptions=True)


PolicyPack(
    name="payment-platform-hardening",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="container-hardening",
            description="CIS Docker Benchmark v1.6 section 5 for every container (policy_rules/).",
            validate=hardening,
        ),
        StackValidationPolicy(
            name="documented-exceptions",
            description="Departures documented in components/docker/hardening.py: shown, never blocking.",
            validate=documented_exceptions,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ],
)
