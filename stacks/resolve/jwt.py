"""Token signing keys (`jwt.*`): the algorithm, the signing generation and the overlap of a rotation.

The generation is a count, not a time: `rotation.jwt-secret` (plus `rotation.all`) picks the signing generation and
`jwt.overlap` keeps one neighbour accepted, so a render depends on the stack file alone and a re-run of `pulumi up`
changes nothing (an RFC 3339 "valid until" would need the wall clock at every render to be enforced).
"""

from __future__ import annotations

from stacks.catalog import JWT_ISSUERS, JWT_SECRET
from stacks.errors import Problem
from stacks.models import Jwt, JwtSettings, StackSettings


def jwt(settings: StackSettings, problems: list[Problem]) -> Jwt:
    given = settings.jwt or JwtSettings()
    value = settings.secrets.get(JWT_SECRET.name)
    algorithm = given.algorithm or "HS256"
    overlap = given.overlap or "none"
    generation = 0 if value is not None else settings.rotation.get(JWT_SECRET.name, 0) + settings.rotation.get("all", 0)
    if value is not None and algorithm != "HS256":
        problems.append(
            Problem(
                ("jwt", "algorithm"),
                f"{algorithm} signs with generated key pairs, and secrets.{JWT_SECRET.name} (an HS256 secret) would "
                f"reach no one; unset it with `pulumi config rm --path secrets.{JWT_SECRET.name}`",
                algorithm,
            )
        )
    if value is not None and overlap != "none":
        problems.append(
            Problem(
                ("jwt", "overlap"),
                f"keeps a second generated key, but secrets.{JWT_SECRET.name} is set in config, so there is no "
                "other generation; expected none",
                overlap,
            )
        )
    elif overlap == "previous" and generation == 0:
        problems.append(
            Problem(
                ("jwt", "overlap"),
                f"there is no key before generation 0 (rotation.{JWT_SECRET.name} is 0); bump it in the same change",
                overlap,
            )
        )
    return Jwt(
        algorithm=algorithm,
        generation=generation,
        overlap=overlap,
        issuers=JWT_ISSUERS,
        value=value,
        length=JWT_SECRET.length,
    )
