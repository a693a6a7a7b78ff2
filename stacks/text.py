"""Text from stack config that reaches the platform's documents: one rule for "no control characters".

Names, paths, hosts, addresses and free text end up in SQL run by psql, shell scripts, YAML, nginx and Kong
configuration, certificate subjects, HTTP headers (SMTP's `From`) and environment variables. A control character
ends a line in every one of them (a newline ends psql's `\\set` line, a CR/LF starts a new mail header, a NUL ends a C
string); format characters such as U+202E (right-to-left override) or U+200B (zero width space) make two different
values look the same in a review. Refusing them once, where config is read, is simpler and safer than escaping them
in each consumer, and `str.isprintable` is exactly that set (categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and every space
but U+0020).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

NOT_PRINTABLE = "expected printable text: no control or format characters (newline, carriage return, tab, NUL, ...)"


def printable(value: str) -> str:
    """`value` unchanged when every character is printable; ValueError otherwise (a pydantic validator)."""
    if not value.isprintable():
        raise ValueError(NOT_PRINTABLE)
    return value


Printable = Annotated[str, AfterValidator(printable)]
"""A config string that may reach any document: printable characters only (see the module docstring)."""


def one_line(text: str) -> str:
    """`text` with each non-printable character written as its escape (`\\n`, `\\x00`, `\\u202e`), so an error line
    that quotes a user's value or key stays one line and shows what was there."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
