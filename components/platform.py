"""The top-level component: the whole payment platform for one stack.

It receives the resolved `PlatformConfig` and builds one child component per concern. Later concerns
(PKI, secrets, data tier, services, gateway, observability) are added here as siblings of the network,
each taking the catalog-derived config it needs and the outputs of the components it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.labels import platform_labels
from components.network import Network, NetworkArgs
from stacks.models import PlatformConfig


@dataclass(frozen=True)
class PlatformArgs:
    config: PlatformConfig
    """The stack's resolved configuration; components never read Pulumi config themselves."""


class Platform(pulumi.ComponentResource):
    """Everything `pulumi up` creates for one stack."""

    network: Network

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:platform:Platform", name, None, opts)
        config = args.config
        labels = platform_labels(config)
        self.network = Network(
            f"{name}-network",
            NetworkArgs(config=config.network, labels=labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"network": self.network.network_name})
