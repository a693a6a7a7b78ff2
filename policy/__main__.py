"""The policy pack: `pulumi preview --policy-pack policy` runs policy_rules over the stack being deployed.

Thin on purpose: the rules are the functions `python -m plan check` runs offline (policy_rules/), and
`policy/adapter.py` (tested without Pulumi) turns the engine's resources into their records and decides which
rules apply: the prod rules for a production stack, as `stacks.profiles.select_profile` decides for the program,
from the stack name and config the engine sends (no default: a dev stack gets the dev rules with or without the
`--policy-pack-config` that `make preview`/`make up` pass).
"""

import sys
from pathlib import Path

# The pack runs from policy/; the rules and the hardening exceptions live in the project above it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as sdk

from policy.adapter import DOCUMENTED, HARDENING, listen, seen, select, validate

# Before the pack starts serving: the engine's ConfigureStack comes first (see policy.adapter.listen).
listen(sdk._PolicyAnalyzerServicer)


def hardening(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    selection = select(seen(), args.get_config())
    for problem in selection.problems:
        report_violation(problem, None)
    validate(args.resources, selection.profile, report_violation)


def documented_exceptions(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    selection = select(seen(), args.get_config())
    validate(args.resources, selection.profile, report_violation, exceptions=True)


STACK_CONFIG = PolicyConfigSchema(properties={"stack": {"type": "string"}})

PolicyPack(
    name="payment-platform-hardening",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name=HARDENING,
            description="CIS Docker Benchmark v1.6 section 5 for every container (policy_rules/).",
            validate=hardening,
            config_schema=STACK_CONFIG,
        ),
        StackValidationPolicy(
            name=DOCUMENTED,
            description="Departures documented in components/docker/hardening.py: shown, never blocking.",
            validate=documented_exceptions,
            enforcement_level=EnforcementLevel.ADVISORY,
            config_schema=STACK_CONFIG,
        ),
    ],
)
