"""`make bench`: what the offline render costs, against the Pulumi SDK's own cost for the same resources.

    python -m scripts.bench [--repeat N] [--extra N] [--baseline-extra N]

For each case (dev, prod, dev plus N services declared through config, and dev plus a smaller number as
the per-service baseline) it measures, in fresh processes, the wall time and peak memory (max RSS) of:

* `python -m plan render --format json`: our program under the mock engine, plus the CLI's output;
* a replay (scripts/bench/replay.py): the same resources, with the same inputs, options and secret flags,
  registered through the SDK's generic resource classes under the same engine, with none of our code,
  writing the same JSON. The two outputs must be byte-identical, or the bench stops: it would be
  comparing different resource sets.

Each figure is the median of `--repeat` runs. Targets (exit 1 when one fails; the table prints anyway):

* render ≤ 1.3 × replay wall time, per case: what our code adds over the SDK stays small;
* per-service cost (render wall time / services in the stack) with N extra services ≤ 1.2 × the cost
  of the 19-service dev stack: the program scales with the catalog, fixed costs included;
* the longest chain of health-waited containers (scripts/bench/waits.py) ≤ 3: data stores, services, Kong.

The table also shows the marginal cost of an added service, (wall(dev + n) - wall(dev)) / n, for the
render and the replay at both sizes: the SDK itself grows slightly faster than linearly (its
`wait_for_rpcs` waits on every outstanding output each round), and the render follows it.

It times, so it is a script and not a test: timings depend on the machine. Record the figures in the
README's "Benchmark" section when they move.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plan import PROJECT_DIR, Project, engine, render
from scripts.bench import replay
from scripts.bench.waits import longest_wait_chain

RENDER_RATIO_LIMIT = 1.3
PER_SERVICE_RATIO_LIMIT = 1.2
WAIT_CHAIN_LIMIT = 3
PROGRAM_PACKAGES = ("components", "stacks", "policy_rules", "policy")
"""The program's own packages (and the policy's), which the replay process must not load."""
FIRST_EXTRA_PORT = 42001
"""Extra services listen from here up: clear of the catalog's ports (40001-40432, Jaeger's 50686)."""


@dataclass(frozen=True)
class Case:
    label: str
    stack: str
    extra: int = 0


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


@dataclass(frozen=True)
class Result:
    case: Case
    resources: int
    services: int
    wait_chain: tuple[str, ...]
    render: Sample
    replay: Sample

    @property
    def ratio(self) -> float:
        return self.render.seconds / self.replay.seconds


@dataclass(frozen=True)
class Target:
    description: str
    value: float
    limit: float
    format: str = ".2f"
    """How `value` is printed: two decimals for ratios, `d` for counts."""

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


def extra_services(count: int) -> dict[str, dict[str, Any]]:
    """`services.<name>` declarations of `count` new services, as a stack file would hold them."""
    return {
        f"bench-{i:03d}": {"port": FIRST_EXTRA_PORT + i, "database": f"payment_bench_{i:03d}"}
        for i in range(1, count + 1)
    }


def stack_file(case: Case, folder: Path) -> Path:
    """`Pulumi.<stack>.yaml` with `case.extra` services added through config, written into `folder`."""
    source = PROJECT_DIR / f"Pulumi.{case.stack}.yaml"
    document = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    config = document.setdefault("config", {}) or {}
    document["config"] = config
    key = f"{Project.load(PROJECT_DIR).name}:services"
    config[key] = {**(config.get(key) or {}), **extra_services(case.extra)}
    path = folder / f"Pulumi.{case.stack}-{case.extra}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    return path


def measure(argv: Sequence[str]) -> Sample:
    """Wall time and peak resident memory of one run of `argv`; RuntimeError with its stderr if it fails."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=stderr)
        # wait4, not wait: it returns the child's own resource usage, including its peak RSS.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"{' '.join(argv[1:])} exited {process.returncode}: {message[-1:] or ''}")
    return Sample(seconds=seconds, peak_mib=usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def median(samples: Sequence[Sample]) -> Sample:
    return Sample(
        seconds=statistics.median(s.seconds for s in samples),
        peak_mib=statistics.median(s.peak_mib for s in samples),
    )


def run_case(case: Case, folder: Path, repeat: int) -> Result:
    config_file = stack_file(case, folder)
    recorder = replay.TriggerRecorder()
    rendered = render(case.stack, config_file=config_file, monitor=recorder)
    document = folder / f"{case.stack}-{case.extra}.replay.json"
    replay.write(rendered, recorder.triggers, document)
    chain = tuple(longest_wait_chain(rendered))
    count, services = len(rendered.resources), len(rendered.outputs["services"])
    del rendered

    ours, theirs = folder / "render.json", folder / "replay.json"
    render_argv = [sys.executable, "-m", "plan", "render", "--stack", case.stack, "--config-file", str(config_file)]
    render_argv += ["--format", "json", "--output", str(ours)]
    replay_argv = [sys.executable, "-m", "scripts.bench", "replay", str(document), str(theirs)]
    render_samples, replay_samples = [], []
    try:
        for _ in range(repeat):
            render_samples.append(measure(render_argv))
            replay_samples.append(measure(replay_argv))
            if ours.read_bytes() != theirs.read_bytes():
                raise RuntimeError(f"{case.label}: the replay registered different resources than the render")
    finally:
        document.unlink()  # it holds the render's secret values
    return Result(case, count, services, chain, median(render_samples), median(replay_samples))


def per_service(result: Result) -> float:
    """Render wall time per service in the stack."""
    return result.render.seconds / result.services


def marginal(result: Result, base: Result, replayed: bool = False) -> float:
    """The wall time each extra service adds to `base`: (wall(base + n) - wall(base)) / n."""
    if replayed:
        return (result.replay.seconds - base.replay.seconds) / result.case.extra
    return (result.render.seconds - base.render.seconds) / result.case.extra


def targets(results: Sequence[Result]) -> list[Target]:
    """Each target of the module docstring, evaluated on `results` (the cases of `cases()`, in order)."""
    found = [Target(f"{r.case.label}: render / replay wall time", r.ratio, RENDER_RATIO_LIMIT) for r in results]
    base = _base(results)
    large = max(results, key=lambda r: r.case.extra)
    found.append(
        Target(
            f"per-service cost at {large.services} services / at {base.services}",
            per_service(large) / per_service(base),
            PER_SERVICE_RATIO_LIMIT,
        )
    )
    found += [
        Target(
            f"{r.case.label}: health-waited chain ({' → '.join(r.wait_chain)})",
            len(r.wait_chain),
            WAIT_CHAIN_LIMIT,
            "d",
        )
        for r in results
    ]
    return found


def _base(results: Sequence[Result]) -> Result:
    return next(r for r in results if r.case.stack == "dev" and r.case.extra == 0)


def cases(extra: int, baseline_extra: int) -> list[Case]:
    if not 0 < baseline_extra < extra:
        raise ValueError(f"expected 0 < --baseline-extra ({baseline_extra}) < --extra ({extra})")
    return [
        Case("dev", "dev"),
        Case("prod", "prod"),
        Case(f"dev +{baseline_extra} services", "dev", baseline_extra),
        Case(f"dev +{extra} services", "dev", extra),
    ]


def format_table(results: Sequence[Result], checked: Sequence[Target], repeat: int) -> str:
    base = _base(results)
    header = (
        "| case | services | resources | render s | render peak MiB | replay s | replay peak MiB | render/replay "
        "| render s per service | marginal s per added service (render / replay) | wait chain |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        added = f"{marginal(r, base):.3f} / {marginal(r, base, replayed=True):.3f}" if r.case.extra else ""
        lines.append(
            f"| {r.case.label} | {r.services} | {r.resources} | {r.render.seconds:.2f} | {r.render.peak_mib:.0f} "
            f"| {r.replay.seconds:.2f} | {r.replay.peak_mib:.0f} | {r.ratio:.2f} | {per_service(r):.3f} | {added} "
            f"| {len(r.wait_chain)} |"
        )
    lines += [
        "",
        f"Medians of {repeat} runs each, in fresh processes ({sys.implementation.name} "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs).",
        "",
    ]
    lines += [
        f"{'ok  ' if t.ok else 'FAIL'} {t.description}: {t.value:{t.format}} (limit {t.limit:g})" for t in checked
    ]
    return "\n".join(lines) + "\n"


def replay_child(document: Path, output: Path) -> int:
    """The measured replay process: register the document's resources, write the render JSON.

    It must run none of our program, or the baseline would include what it is there to measure: it fails (and so the
    bench stops) when a module of the program got loaded on the way.
    """
    data = replay.read(document)
    rendered = engine.run_program(replay.replay_program(data), data["project"], data["stack"])
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in PROGRAM_PACKAGES)
    if loaded:
        print(f"the replay loaded the program's modules ({', '.join(loaded[:3])}, ...)", file=sys.stderr)
        return 1
    output.write_text(rendered.dumps(), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    r = commands.add_parser("replay", help="(internal) the measured replay process")
    r.add_argument("document", type=Path)
    r.add_argument("output", type=Path)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median counts (default 5)")
    parser.add_argument("--extra", type=int, default=200, help="services the large case adds (default 200)")
    parser.add_argument("--baseline-extra", type=int, default=19, help="services the baseline case adds (default 19)")
    args = parser.parse_args(argv)
    if args.command == "replay":
        return replay_child(args.document, args.output)
    if args.repeat < 1:
        parser.error("--repeat: expected at least 1")
    try:
        selected = cases(args.extra, args.baseline_extra)
    except ValueError as error:
        parser.error(str(error))

    results = []
    with tempfile.TemporaryDirectory(prefix="payment-bench-") as folder:
        for case in selected:
            print(f"measuring {case.label} ...", file=sys.stderr, flush=True)
            try:
                results.append(run_case(case, Path(folder), args.repeat))
            except RuntimeError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
    checked = targets(results)
    sys.stdout.write(format_table(results, checked, args.repeat))
    return 0 if all(t.ok for t in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
