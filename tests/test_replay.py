"""scripts/bench/replay.py: the benchmark's SDK baseline must register exactly what the program registers."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from plan import PROJECT_DIR, Render, engine, render
from plan.simulate import SECRET_MARKER
from scripts.bench import replay
from tests.conftest import rendered

CANARY = "sk_live_REPLAY0CANARY0stripe0key0000000"


def recorded(stack: str, *sets: str, secret_sets: tuple[str, ...] = ()) -> tuple[Render, dict[str, object]]:
    recorder = replay.TriggerRecorder()
    return render(stack, sets=sets, secret_sets=secret_sets, monitor=recorder), recorder.triggers


def replayed(original: Render, triggers: dict[str, object]) -> Render:
    document = replay.document(original, triggers)
    return engine.run_program(replay.replay_program(document), original.project, original.stack)


def with_secrets(stack: str, *sets: str) -> tuple[Render, dict[str, object]]:
    """`stack` with external secrets set as config secrets (`pulumi config set --secret`)."""
    return recorded(
        stack,
        *sets,
        secret_sets=(f"secrets.stripe-api-key={CANARY}", "secrets.stripe-webhook-secret=whsec_replay_canary"),
    )


@pytest.mark.parametrize(
    "source",
    [
        lambda: recorded("dev"),
        lambda: recorded("prod"),
        # Config secrets and a service added through config take other paths through the program.
        lambda: with_secrets(
            "prod", "services.loyalty-service.port=40030", "services.loyalty-service.database=loyalty"
        ),
    ],
    ids=["dev", "prod", "prod-with-secrets-and-a-new-service"],
)
def test_replay_records_the_same_resources_inputs_and_secrets(
    source: Callable[[], tuple[Render, dict[str, object]]],
) -> None:
    original, triggers = source()
    again = replayed(original, triggers)
    assert [r.urn for r in again.resources] == [r.urn for r in original.resources]
    for before, after in zip(original.resources, again.resources, strict=True):
        assert after == before, before.urn  # options, dependencies, and inputs with [secret] where secret
        assert after.revealed_inputs == before.revealed_inputs, before.urn
        assert after.revealed_outputs == before.revealed_outputs, before.urn
    assert again.outputs == original.outputs
    assert again.dumps() == original.dumps()


def test_a_replay_document_is_private_and_the_replay_keeps_secrets_secret(tmp_path: Path) -> None:
    original, triggers = with_secrets("prod")
    path = tmp_path / "replay.json"
    replay.write(original, triggers, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The document holds the secret (it must, to replay it) but marked as one ...
    assert CANARY in path.read_text()
    again = replayed(original, triggers)
    text = again.dumps()
    # ... and the replay's render shows it as [secret], like the program's.
    assert CANARY not in text
    assert SECRET_MARKER not in text
    assert any(CANARY in json.dumps(r.revealed_inputs) and CANARY not in json.dumps(r.inputs) for r in again.resources)


def test_writing_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "replay.json"
    path.write_text("someone else's")
    with pytest.raises(FileExistsError):
        replay.write(rendered("dev"), {}, path)


def test_the_replay_process_imports_none_of_our_program(tmp_path: Path) -> None:
    document, output = tmp_path / "dev.replay.json", tmp_path / "replay.json"
    replay.write(*recorded("dev"), document)
    probe = (
        "import sys\n"
        "from scripts.bench import __main__ as bench\n"
        f"code = bench.main(['replay', {str(document)!r}, {str(output)!r}])\n"
        "ours = sorted(m for m in sys.modules\n"
        "              if m.split('.')[0] in ('components', 'stacks', 'policy_rules', 'policy'))\n"
        "print(code, ours)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 []"
    assert output.read_text() == rendered("dev").dumps()


def entry(urn: str, parent: str | None = None, *dependencies: str) -> dict[str, object]:
    return {"urn": urn, "parent": parent, "dependencies": list(dependencies)}


def test_dependency_order_puts_parents_and_dependencies_first() -> None:
    entries = [entry("c", "a", "b"), entry("b", "a"), entry("a"), entry("d", None, "c")]
    order = [e["urn"] for e in replay.dependency_order(entries)]
    assert order == ["a", "b", "c", "d"]


def test_dependency_order_refuses_a_cycle() -> None:
    with pytest.raises(ValueError, match="dependency cycle"):
        list(replay.dependency_order([entry("a", None, "b"), entry("b", None, "a")]))


def test_an_input_the_provider_class_does_not_have_is_an_error() -> None:
    original = rendered("dev")
    document = replay.document(original, {})
    container = next(e for e in document["resources"] if e["type"] == "docker:index/container:Container")
    container["inputs"]["notAnInput"] = True
    with pytest.raises(ValueError, match=r"ContainerArgs has no inputs \['notAnInput'\]"):
        engine.run_program(replay.replay_program(document), original.project, original.stack)
