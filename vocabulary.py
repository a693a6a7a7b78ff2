"""The words every part of the project writes the same way: the markers that stand for a value nobody may or can
see, and the Pulumi type tokens of the resources the program declares.

A leaf on purpose: it imports nothing from the project, so the program (`stacks/errors.py`), the offline renderer
(`plan/`), the policy rules (`policy_rules/`) and pack (`policy/`), the scripts and the tests all import it without
a cycle, and the benchmark's replay process can load `plan` without loading the program. `scripts/e2e.py` copies
it with the program (`PROGRAM_PARTS`), because the program and the policy pack import it under the real CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET = "[secret]"
"""What a secret value is shown as. The Pulumi CLI prints it for a secret output (`pulumi stack output` without
`--show-secrets`), so a render, a policy record, a plan diff and a configuration error show it too."""

UNKNOWN = "[unknown]"
"""What a value is shown as that only `pulumi up` computes: an unknown of a preview, as a render shows it."""


def holds(value: Any, marker: str) -> bool:
    """Whether `marker` (`SECRET`, `UNKNOWN`) stands anywhere in a rendered value, nested or not."""
    if isinstance(value, Mapping):
        return any(holds(v, marker) for v in value.values())
    if isinstance(value, list):
        return any(holds(v, marker) for v in value)
    return isinstance(value, str) and value == marker


STACK_TYPE = "pulumi:pulumi:Stack"
"""The root resource every program's resources hang from; the engine creates it, not the program."""

# The provider resources the program declares, as the engine, a render and a policy pack name them.
CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
NETWORK = "docker:index/network:Network"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
CERT_REQUEST = "tls:index/certRequest:CertRequest"
SELF_SIGNED_CERT = "tls:index/selfSignedCert:SelfSignedCert"
LOCALLY_SIGNED_CERT = "tls:index/locallySignedCert:LocallySignedCert"
