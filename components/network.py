"""The platform's Docker network: one user-defined bridge, `payment-network`, on 172.28.0.0/16.

A user-defined bridge (unlike Docker's default one) gives containers DNS by name. Each container joins
it with two aliases, `<name>` and `<name>.payment-network`, so both the short names the seed's examples
use (`postgres`) and the fully qualified ones its service URLs use
(`https://order-service.payment-network:40004`) resolve. The fully qualified name is also what each
service certificate carries, so mTLS hostname checks pass on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from stacks.models import Network as NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    """Name, subnet and gateway of the bridge."""
    labels: dict[str, str]
    """Labels common to everything the stack creates (project, stack, profile)."""


class Network(pulumi.ComponentResource):
    """The bridge network every platform container joins."""

    network_name: pulumi.Output[str]
    """Docker name of the network (`payment-network`)."""
    network_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:network:Network", name, None, opts)
        self.domain = args.config.name
        """The network's DNS domain: containers join it as `<alias>` and `<alias>.<domain>` (`Host.attach`)."""
        bridge = docker.Network(
            f"{name}-bridge",
            name=args.config.name,
            driver="bridge",
            # Containers reach each other (mTLS between services) but the network is not `internal`:
            # channel-adapter and notification-service call Stripe and SMTP servers outside.
            internal=False,
            ipam_configs=[
                docker.NetworkIpamConfigArgs(subnet=str(args.config.subnet), gateway=str(args.config.gateway))
            ],
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(args.labels.items())],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.network_name = bridge.name
        self.network_id = bridge.id
        self.register_outputs({"name": self.network_name, "id": self.network_id})
