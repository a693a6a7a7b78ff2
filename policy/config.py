"""`python -m policy.config --stack STACK --output FILE`: the `--policy-pack-config` `make preview`/`make up` pass.

It names the stack for each policy (`policy.adapter.pack_config`); the pack checks it against the stack the engine
runs. Nothing in it can choose the rules: those follow the stack (stacks.profiles.select_profile).
Exit status 2 on a name that is no stack name, with the reason, as a config error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from policy.adapter import pack_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policy.config", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        document = pack_config(args.stack)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
