"""scripts/bench/ (`make bench`): its cases, its measurements and its targets, without timing anything.

The timings themselves are machine-dependent and are not asserted here; the bench prints them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from plan import render
from scripts.bench import __main__ as bench
from stacks.models import DATABASE_NAME, SERVICE_NAME


def test_extra_services_are_valid_and_distinct() -> None:
    services = bench.extra_services(200)
    assert len(services) == 200
    assert all(SERVICE_NAME.match(name) for name in services)
    assert len({s["port"] for s in services.values()}) == 200
    assert all(1024 < s["port"] <= 65535 for s in services.values())
    assert all(DATABASE_NAME.match(s["database"]) for s in services.values())


def test_the_stack_file_adds_services_to_the_stacks_own_config(tmp_path: Path) -> None:
    path = bench.stack_file(bench.Case("dev +3", "dev", 3), tmp_path)
    config = yaml.safe_load(path.read_text())["config"]
    assert config["payment-platform:demo"] is True  # the dev stack file's own settings are kept
    base, grown = render("dev"), render("dev", config_file=path)
    names = {r.name for r in grown.by_type("docker:index/container:Container")} - {
        r.name for r in base.by_type("docker:index/container:Container")
    }
    assert {n for n in names if not n.endswith("-loader")} == {
        f"payment-services-payment-bench-00{i}" for i in (1, 2, 3)
    }


def test_one_case_renders_replays_identically_and_reports(tmp_path: Path) -> None:
    result = bench.run_case(bench.Case("dev", "dev"), tmp_path, repeat=1)
    assert result.resources == len(render("dev").resources)
    assert result.services == 19
    assert len(result.wait_chain) == 3
    assert result.render.seconds > 0 and result.replay.seconds > 0
    assert result.render.peak_mib > 20 and result.replay.peak_mib > 20
    assert not list(tmp_path.glob("*.replay.json"))  # the document holding secrets is gone


def test_measure_reports_the_childs_own_peak_memory() -> None:
    sample = bench.measure(
        [sys.executable, "-c", "x = bytearray(300 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"]
    )
    assert sample.peak_mib >= 300
    assert bench.measure([sys.executable, "-c", "pass"]).peak_mib < 300


def test_measure_fails_with_the_childs_last_error_line() -> None:
    with pytest.raises(RuntimeError, match=r"exited 3: \['boom'\]"):
        bench.measure([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"])


def result(label: str, extra: int, render_s: float, replay_s: float, chain: int = 3) -> bench.Result:
    return bench.Result(
        case=bench.Case(label, "dev", extra),
        resources=100,
        services=19 + extra,
        wait_chain=tuple(f"c{i}" for i in range(chain)),
        render=bench.Sample(render_s, 100),
        replay=bench.Sample(replay_s, 100),
    )


def failing(results: list[bench.Result]) -> list[str]:
    return [t.description for t in bench.targets(results) if not t.ok]


def linear() -> list[bench.Result]:
    # 0.3 s fixed, 0.05 s per service; render 1.2 x replay everywhere.
    return [
        result("dev", 0, 0.3 + 19 * 0.05, (0.3 + 19 * 0.05) / 1.2),
        result("+19", 19, 0.3 + 38 * 0.05, (0.3 + 38 * 0.05) / 1.2),
        result("+200", 200, 0.3 + 219 * 0.05, (0.3 + 219 * 0.05) / 1.2),
    ]


def test_targets_hold_for_a_linear_program_close_to_the_sdk() -> None:
    assert failing(linear()) == []


def test_a_program_costing_more_than_1_3x_the_replay_fails() -> None:
    results = linear()
    results[0] = result("dev", 0, 1.25, 0.9)
    assert failing(results) == ["dev: render / replay wall time"]


def test_a_per_service_cost_growing_with_the_service_count_fails() -> None:
    results = linear()
    # 219 services at 0.08 s each against 19 at 0.066 s each (fixed costs included): 1.21 x.
    results[2] = result("+200", 200, 219 * 0.08, 219 * 0.08 / 1.2)
    assert failing(results) == ["per-service cost at 219 services / at 19"]


def test_a_fourth_health_wait_in_a_row_fails() -> None:
    results = linear()
    results[1] = result("+19", 19, 2.2, 2.2 / 1.2, chain=4)
    assert failing(results) == ["+19: health-waited chain (c0 → c1 → c2 → c3)"]


def test_the_table_has_a_row_per_case_and_a_line_per_target() -> None:
    results = linear()
    text = bench.format_table(results, bench.targets(results), repeat=3)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| case")]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == ["dev", "+19", "+200"]
    assert text.count("\nok   ") == len(bench.targets(results))


def test_cases_need_a_baseline_smaller_than_the_large_case() -> None:
    with pytest.raises(ValueError, match="--baseline-extra"):
        bench.cases(extra=19, baseline_extra=19)


def test_bad_arguments_are_refused_before_measuring(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["--repeat", "0"], "--repeat: expected at least 1"),
        (["--extra", "19", "--baseline-extra", "19"], "expected 0 < --baseline-extra (19) < --extra (19)"),
    ):
        with pytest.raises(SystemExit) as exit_:
            bench.main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_a_failed_measurement_ends_the_bench_with_its_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(case: bench.Case, folder: Path, repeat: int) -> bench.Result:
        raise RuntimeError(f"{case.label}: the replay registered different resources than the render")

    monkeypatch.setattr(bench, "run_case", fail)
    assert bench.main([]) == 2
    err = capsys.readouterr().err
    assert "error: dev: the replay registered different resources than the render" in err
    assert "measuring prod" not in err  # it stops at the first failure
