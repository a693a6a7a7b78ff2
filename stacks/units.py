"""Typed sizes and CPU counts for stack configuration.

Config values such as `512M` or `0.5` are parsed once, here, into numbers with a unit; everything after
`stacks/` works with integers and never re-parses a string. Units are binary, as Docker's are
(`1G` = 1024M), and the canonical spelling (`str()`) is what error messages and the render show.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?:(?P<unit>[KMGT])(?:IB|I|B)?|B)?", re.IGNORECASE)


class ByteSize(int):
    """A number of bytes, written in config as `512M`, `1G`, `10m` or a plain byte count."""

    @classmethod
    def parse(cls, value: Any) -> ByteSize:
        if isinstance(value, ByteSize):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError("expected a size such as 512M or 1G")
        if isinstance(value, int):
            if value <= 0:
                raise ValueError("expected a positive size such as 512M or 1G")
            return cls(value)
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError("expected a size: a number with unit K, M, G or T, such as 512M or 1G")
        number = Decimal(match["number"]) * _UNITS[(match["unit"] or "").upper()]
        if number != number.to_integral_value() or number <= 0:
            raise ValueError("expected a positive whole number of bytes, such as 512M or 1536M")
        return cls(int(number))

    @property
    def mebibytes(self) -> int:
        """Whole MiB, the unit of Docker's memory settings (rounded up, never down)."""
        return -(-int(self) // _UNITS["M"])

    def __str__(self) -> str:
        for unit in ("T", "G", "M", "K"):
            if int(self) % _UNITS[unit] == 0:
                return f"{int(self) // _UNITS[unit]}{unit}"
        return str(int(self))

    def __repr__(self) -> str:
        return f"ByteSize({str(self)!r})"

    def docker(self) -> str:
        """The lower-case spelling Docker's log options use, e.g. `10m`."""
        return str(self).lower()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


class Cpus(Decimal):
    """A CPU count such as `0.5` or `2`, in hundredths at most (Docker's `--cpus` precision we keep)."""

    @classmethod
    def parse(cls, value: Any) -> Cpus:
        if isinstance(value, Cpus):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise ValueError("expected a CPU count such as 0.5 or 2")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError("expected a CPU count such as 0.5 or 2") from None
        if not number.is_finite() or number <= 0:
            raise ValueError("expected a positive CPU count such as 0.5 or 2")
        if number != number.quantize(Decimal("0.01")):
            raise ValueError("expected at most two decimals, such as 0.25")
        return cls(number.quantize(Decimal("0.01")).normalize())

    def __str__(self) -> str:
        return format(Decimal(self).quantize(Decimal("0.01")).normalize(), "f")

    def __repr__(self) -> str:
        return f"Cpus({str(self)!r})"

    @property
    def shares(self) -> int:
        """Relative CPU weight for Docker's `cpu_shares` (1024 per CPU), how a reservation is honoured."""
        return int(Decimal(self) * 1024)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )
