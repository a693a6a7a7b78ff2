"""`python -m plan render|diff ...`: see plan/__init__.py, plan/diff.py and the README's "Offline plan" section."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pulumi

from plan import Render, StackFileError, render
from plan.diff import diff, format_json, format_markdown
from plan.engine import dumps
from plan.simulate import SECRET_MARKER
from plan.table import format_table
from policy_rules import check

EXIT_INVALID_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m plan", description="Offline renders of the Pulumi program.")
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("render", help="run __main__.py under the mock runtime and list every resource")
    _stack_arguments(r)
    r.add_argument("--format", choices=("table", "json"), default="table")
    r.add_argument("--output", type=Path, help="write to FILE instead of standard output")
    d = commands.add_parser("diff", help="what changes between two JSON renders (`render --format json`)")
    d.add_argument("before", type=Path, metavar="BEFORE.json")
    d.add_argument("after", type=Path, metavar="AFTER.json")
    d.add_argument("--format", choices=("markdown", "json"), default="markdown")
    c = commands.add_parser("check", help="render a stack and run the policy rules (policy_rules) over it")
    _stack_arguments(c)
    return parser


def _stack_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("--stack", default="dev", help="stack whose Pulumi.<stack>.yaml to use (default: dev)")
    r.add_argument("--config-file", type=Path, help="use this stack file instead of Pulumi.<stack>.yaml")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="like `pulumi config set --path PATH VALUE`; VALUE is parsed as YAML (repeatable)",
    )
    r.add_argument(
        "--set-secret",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="like --set, but the value is a secret (repeatable)",
    )


def _load_render(path: Path) -> dict[str, Any]:
    """A render document from `path`; ValueError naming the file when it cannot be read as one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read render {path}: {error}") from error
    if not (
        isinstance(document, dict)
        and isinstance(document.get("resources"), list)
        and all(isinstance(r, dict) and {"urn", "type", "name"} <= r.keys() for r in document["resources"])
    ):
        raise ValueError(f"{path} is not a render (`python -m plan render --format json`)")
    return document


def _diff(args: argparse.Namespace) -> int:
    try:
        before, after = _load_render(args.before), _load_render(args.after)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    result = diff(before, after)
    text = format_json(result) if args.format == "json" else format_markdown(result)
    if SECRET_MARKER in text:
        print("error: a simulated secret reached the diff; not printing it", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def leaked_secrets(document: Any, path: str = "") -> list[str]:
    """Where in the render a simulated secret value appears in the clear."""
    if isinstance(document, dict):
        return [leak for key, value in document.items() for leak in leaked_secrets(value, f"{path}.{key}".lstrip("."))]
    if isinstance(document, list):
        return [leak for i, value in enumerate(document) for leak in leaked_secrets(value, f"{path}[{i}]")]
    return [path] if isinstance(document, str) and SECRET_MARKER in document else []


def _render(args: argparse.Namespace) -> Render | int:
    """The render `--stack/--config-file/--set/--set-secret` ask for, or the exit code of the error."""
    try:
        return render(
            args.stack,
            config_file=args.config_file,
            sets=tuple(args.set),
            secret_sets=tuple(args.set_secret),
        )
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    except pulumi.RunError as error:
        # What `pulumi up` would print without a traceback: invalid configuration, chiefly.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID_CONFIG


def _check(args: argparse.Namespace) -> int:
    result = _render(args)
    if isinstance(result, int):
        return result
    report = check(result.to_json())
    for line in report.lines():
        print(line)
    print(f"{len(report.violations)} violation(s), {len(report.exceptions)} documented exception(s) applied")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "diff":
        return _diff(args)
    if args.command == "check":
        return _check(args)
    result = _render(args)
    if isinstance(result, int):
        return result

    document = result.to_json()
    text = dumps(document) if args.format == "json" else format_table(result)
    leaks = leaked_secrets(document)
    if leaks or SECRET_MARKER in text:
        # A simulated secret reached the output: some value lost its secret flag on the way. Refuse to
        # print it; the same path would put a real password into `pulumi preview` output and state.
        print(
            f"error: a secret lost its secret flag at {', '.join(leaks) or 'an unknown place'}; "
            "not printing the render",
            file=sys.stderr,
        )
        return 1
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
