"""The platform's Docker networks: the seed's `payment-network` (172.28.0.0/16) and the segments beside it.

Every network is a user-defined bridge (unlike Docker's default one, it gives containers DNS by name). Who joins
which, and which are `internal`, is decided in `stacks.resolve.networks` from the catalog; this component only
creates them. Each container joins each of its networks with two aliases, `<name>` and `<name>.payment-network`
(`Host.attach`), so both the short names of the seed's examples (`postgres`) and the fully qualified ones of its
service URLs (`https://order-service.payment-network:40004`) resolve wherever the container is reachable; the fully
qualified name is also what each certificate carries, so mTLS hostname checks pass on it. Only the seed's network
has a fixed subnet; the others take theirs from the engine's address pools (the daemon's `default-address-pools` is
where an operator steers them clear of the site's ranges).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from stacks.models import Segment


@dataclass(frozen=True)
class NetworkArgs:
    segments: tuple[Segment, ...]
    """Every network of the stack, the seed's first (`PlatformConfig.segments`)."""
    labels: dict[str, str]
    """Labels common to everything the stack creates (project, stack, profile)."""


class Network(pulumi.ComponentResource):
    """The bridge networks the platform's containers join."""

    network_name: pulumi.Output[str]
    """Docker name of the seed's network (`payment-network`)."""
    network_id: pulumi.Output[str]
    names: dict[str, pulumi.Output[str]]
    """Docker name of every network, by segment name."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("payment:network:Network", name, None, opts)
        labels = [docker.NetworkLabelArgs(label=k, value=v) for k, v in sorted(args.labels.items())]
        self.names = {}
        bridges = []
        for index, segment in enumerate(args.segments):
            ipam = None
            if segment.subnet is not None:
                ipam = [docker.NetworkIpamConfigArgs(subnet=str(segment.subnet), gateway=str(segment.gateway))]
            bridge = docker.Network(
                # The seed's network keeps the logical name it always had.
                f"{name}-bridge" if index == 0 else f"{name}-{segment.name}",
                name=segment.name,
                driver="bridge",
                internal=segment.internal,
                ipam_configs=ipam,
                labels=labels,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.names[segment.name] = bridge.name
            bridges.append(bridge)
        self.network_name = bridges[0].name
        self.network_id = bridges[0].id
        self.register_outputs({"names": self.names, "id": self.network_id})
