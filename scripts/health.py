"""`make health`: GET every published endpoint's health URL, as the seed's check-health.sh did, over mTLS.

    pulumi stack output --json --show-secrets | python -m scripts.health
    python -m scripts.health outputs.json

The stack outputs give the endpoints (`endpoints`: name and health URL of every published service port,
and Kong's TLS proxy where published), the trust bundle (`caBundle`) and the operator's client
certificate and key (`operatorCertificate`, `operatorKey`). Each endpoint gets one GET with a bounded
timeout, TLS 1.2 or later; HTTPS endpoints are verified against the bundle alone (not the system store) and are
shown the operator certificate, since services require a client certificate. The one exception: an endpoint marked
`"trust": "public"` (Kong, when the stack serves a public certificate from `gateway.tls.*`) is verified against the
system's public CAs, as its clients do, and is shown no client certificate. The key is written only to a private
temporary folder (0700, file 0600) for as long as loading it takes, and is never printed.

Prints one line per endpoint (`✅ <name> is healthy` / `❌ <name> is unhealthy (<reason>)`) and exits
0 when all are healthy, 1 when any is not, 2 when the input is unusable (naming the key at fault).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from vocabulary import SECRET

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_MALFORMED = 2

TIMEOUT_SECONDS = 2.0
"""Per endpoint, for connecting and for each read: a hung service cannot hang the check."""
MAX_BODY_BYTES = 64 * 1024
PARALLEL = 8
"""Endpoints probed at once, so twenty dead ports cost seconds, not a minute."""


class MalformedOutputsError(ValueError):
    """The stack outputs cannot be checked; the message names the key and never holds a value."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    """`https://127.0.0.1:40003/health`, or `http://...` for a plain-HTTP endpoint."""
    public: bool = False
    """Verified against the system's public CAs (`"trust": "public"`), not the platform bundle."""


@dataclass(frozen=True)
class Outputs:
    endpoints: tuple[Endpoint, ...]
    ca_bundle: str
    operator_certificate: str
    operator_key: str = field(repr=False)
    """Secret: kept out of `repr`, so no traceback or debug print shows it."""


@dataclass(frozen=True)
class Result:
    name: str
    healthy: bool
    reason: str = ""
    """Why it is unhealthy (empty when healthy)."""

    def line(self) -> str:
        return f"✅ {self.name} is healthy" if self.healthy else f"❌ {self.name} is unhealthy ({self.reason})"


def _pem(outputs: dict[str, Any], key: str, marker: str) -> str:
    if key not in outputs:
        raise MalformedOutputsError(f"the stack outputs have no `{key}`")
    value = outputs[key]
    if value == SECRET:  # what `pulumi stack output --json` prints for a secret without `--show-secrets`
        raise MalformedOutputsError(
            f"`{key}` is hidden as {SECRET}: pipe `pulumi stack output --json --show-secrets` into this check"
        )
    if not isinstance(value, str) or "-----BEGIN " not in value or f"{marker}-----" not in value:
        raise MalformedOutputsError(f"`{key}` is not a PEM {marker.lower()}")
    return value


def _endpoint(index: int, item: object) -> Endpoint:
    where = f"endpoints[{index}]"
    if not isinstance(item, dict):
        raise MalformedOutputsError(f"`{where}` is not an object with `name` and `health`")
    name, url = item.get("name"), item.get("health")
    if not isinstance(name, str) or not name:
        raise MalformedOutputsError(f"`{where}.name` is missing or not a string")
    if not isinstance(url, str):
        raise MalformedOutputsError(f"`{where}.health` is missing or not a string")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise MalformedOutputsError(f"`{where}.health` is not an http(s)://host:port/... URL")
    trust = item.get("trust", "platform")
    if trust not in ("platform", "public"):
        raise MalformedOutputsError(f"`{where}.trust` is neither `platform` nor `public`")
    return Endpoint(name=name, url=url, public=trust == "public")


def parse_outputs(text: str) -> Outputs:
    """The checkable part of `pulumi stack output --json --show-secrets`; raises `MalformedOutputsError`."""
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as error:
        # The message names the position only, never the text around it.
        raise MalformedOutputsError(f"the stack outputs are not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(outputs, dict):
        raise MalformedOutputsError("the stack outputs are not a JSON object")
    if "endpoints" not in outputs:
        raise MalformedOutputsError("the stack outputs have no `endpoints`")
    items = outputs["endpoints"]
    if not isinstance(items, list):
        raise MalformedOutputsError("`endpoints` is not a list")
    if not items:
        raise MalformedOutputsError("`endpoints` is empty: the stack publishes nothing to check")
    endpoints = tuple(_endpoint(i, item) for i, item in enumerate(items))
    return Outputs(
        endpoints=endpoints,
        ca_bundle=_pem(outputs, "caBundle", "CERTIFICATE"),
        operator_certificate=_pem(outputs, "operatorCertificate", "CERTIFICATE"),
        operator_key=_pem(outputs, "operatorKey", "PRIVATE KEY"),
    )


@contextmanager
def private_files(**contents: str) -> Iterator[dict[str, Path]]:
    """Each text in a file of its own (0600) inside a fresh private folder (0700), removed on exit."""
    with tempfile.TemporaryDirectory(prefix="payment-health-") as folder:
        os.chmod(folder, 0o700)
        paths: dict[str, Path] = {}
        for name, text in contents.items():
            path = Path(folder) / name
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
            paths[name] = path
        yield paths


def client_context(outputs: Outputs) -> ssl.SSLContext:
    """TLS 1.2+ client trusting only the platform bundle, presenting the operator certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=outputs.ca_bundle)
    except ssl.SSLError:
        raise MalformedOutputsError("`caBundle` holds no usable CA certificate") from None
    # The ssl module reads a key pair from files only; they are gone again before any connection is made.
    with private_files(cert=outputs.operator_certificate, key=outputs.operator_key) as files:
        try:
            context.load_cert_chain(files["cert"], files["key"])
        except ssl.SSLError:
            raise MalformedOutputsError(
                "`operatorCertificate` and `operatorKey` do not form a usable key pair"
            ) from None
    return context


def _reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS: {error.reason or error.strerror or type(error).__name__}"
    if isinstance(error, http.client.HTTPException):
        return f"bad HTTP answer ({type(error).__name__})"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return type(error).__name__


def _verdict(status: int, body: bytes) -> str:
    """Empty when the answer means healthy, else why not."""
    if not 200 <= status < 300:
        return f"HTTP {status}"
    try:
        document = json.loads(body)
    except ValueError:
        return ""  # a 2xx that is not JSON: healthy, as `curl -f` in the seed's script judged it
    if isinstance(document, dict) and "status" in document and document["status"] != "UP":
        return f"status {str(document['status'])[:40]}"
    return ""


def public_context() -> ssl.SSLContext:
    """TLS 1.2+ client trusting the system's public CAs: how the internet checks a public gateway certificate."""
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def probe(endpoint: Endpoint, context: ssl.SSLContext, timeout: float = TIMEOUT_SECONDS) -> Result:
    """One GET of the endpoint's health URL; never raises for anything the network or server does."""
    parts = urlsplit(endpoint.url)
    host, port = parts.hostname or "", parts.port
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", target, headers={"Accept": "application/json", "User-Agent": "payment-health"})
        response = connection.getresponse()
        body = response.read(MAX_BODY_BYTES)
    except (OSError, http.client.HTTPException) as error:
        return Result(endpoint.name, healthy=False, reason=_reason(error, timeout))
    finally:
        connection.close()
    reason = _verdict(response.status, body)
    return Result(endpoint.name, healthy=not reason, reason=reason)


def check(outputs: Outputs, timeout: float = TIMEOUT_SECONDS) -> list[Result]:
    """Every endpoint probed (several at once), results in the order of `endpoints`."""
    platform, public = client_context(outputs), public_context()
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(outputs.endpoints)))) as pool:
        return list(
            pool.map(
                lambda endpoint: probe(endpoint, public if endpoint.public else platform, timeout), outputs.endpoints
            )
        )


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 60, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.health",
        description="Check every published endpoint's health over mTLS, from `pulumi stack output --json "
        "--show-secrets`.",
    )
    parser.add_argument("outputs", nargs="?", help="file with the stack outputs JSON (default: standard input)")
    parser.add_argument("--timeout", type=_seconds, default=TIMEOUT_SECONDS, help="seconds per endpoint (default 2)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    arguments = _parser().parse_args(argv)
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        text = Path(arguments.outputs).read_text(encoding="utf-8") if arguments.outputs else (stdin or sys.stdin).read()
    except (OSError, UnicodeDecodeError) as error:
        source = arguments.outputs or "standard input"
        print(f"health: cannot read {source}: {getattr(error, 'strerror', None) or error}", file=err)
        return EXIT_MALFORMED
    try:
        results = check(parse_outputs(text), timeout=arguments.timeout)
    except MalformedOutputsError as error:
        print(f"health: {error}", file=err)
        return EXIT_MALFORMED
    for result in results:
        print(result.line(), file=out)
    unhealthy = sum(not r.healthy for r in results)
    if unhealthy:
        print(f"{unhealthy} of {len(results)} endpoints unhealthy", file=out)
        return EXIT_UNHEALTHY
    return EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())
