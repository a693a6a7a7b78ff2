"""What a container is given: environment variables and files uploaded into it.

The PKI and secrets components each produce a `ContainerFiles` for a consumer; the component that owns
the container adds them up and attaches the result, so the knowledge of paths, modes and variable
names stays with the concern that defines them. Files are uploaded by pulumi-docker (no host paths,
nothing on the Docker host's disk), owned by the container's user and readable by it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

OWNER_READ_ONLY = "0400"
PUBLIC_READ = "0444"


@dataclass(frozen=True)
class ContainerFiles:
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Variable name -> value; a secret value stays a secret Output."""
    uploads: tuple[docker.ContainerUploadArgs, ...] = ()

    def __add__(self, other: ContainerFiles) -> ContainerFiles:
        clash = sorted(set(self.env) & set(other.env))
        if clash:
            raise ValueError(f"environment variables set twice: {', '.join(clash)}")
        return ContainerFiles(env={**self.env, **other.env}, uploads=(*self.uploads, *other.uploads))

    def envs(self) -> list[pulumi.Input[str]]:
        """`NAME=value` strings in name order, the shape of the Container resource's `envs` input.

        Plain values stay plain strings: an Output per variable would cost every `pulumi up` and render
        thousands of futures for values known before anything runs. Outputs (secrets) stay Outputs,
        keeping their secret flag.
        """
        return [_assignment(name, self.env[name]) for name in sorted(self.env)]


def _assignment(name: str, value: pulumi.Input[str]) -> pulumi.Input[str]:
    if isinstance(value, str):
        return f"{name}={value}"
    return pulumi.Output.concat(name, "=", value)


def upload(path: str, content: pulumi.Input[str], uid: int, mode: str = OWNER_READ_ONLY) -> docker.ContainerUploadArgs:
    """A file at `path` owned by `uid` (numeric, so the image needs no matching user name)."""
    return docker.ContainerUploadArgs(file=path, content=content, owner=str(uid), group=str(uid), permissions=mode)
