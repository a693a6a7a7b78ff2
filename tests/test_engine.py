"""The mock engine behaves like the Pulumi engine where a render could otherwise mislead a reviewer."""

from __future__ import annotations

import functools
import json

import pytest

import plan.__main__ as cli
from plan import Render, render
from plan.simulate import SECRET_MARKER, Placeholders, Request, resource_id
from tests.conftest import FIXTURES
from vocabulary import CONTAINER, NETWORK, RANDOM_PASSWORD, SECRET, VOLUME

PROGRAM = FIXTURES / "secrets"


@functools.cache
def fixture(*sets: str) -> Render:
    return render("dev", project_dir=PROGRAM, sets=sets)


def test_additional_secret_outputs_are_secret_like_the_real_engine() -> None:
    assert fixture().outputs["password"] == SECRET


def test_values_derived_from_a_secret_stay_secret() -> None:
    network = fixture().get(NETWORK, "net")
    assert network.inputs["labels"] == [{"label": "derived", "value": SECRET}]


def test_non_secret_outputs_are_shown() -> None:
    outputs = fixture().outputs
    assert outputs["length"] == 40
    assert outputs["network"] == "fixture-net"


def test_declared_defaults_from_the_project_file_apply() -> None:
    assert fixture().outputs["greeting"] == "hello"
    assert fixture("greeting=hi").outputs["greeting"] == "hi"


def test_secure_config_values_are_secrets_with_unknown_plaintext() -> None:
    outputs = fixture().outputs
    assert outputs["token"] == SECRET
    assert outputs["nested"] == SECRET


def test_set_secret_marks_the_key_secret() -> None:
    rendered = render("dev", project_dir=PROGRAM, secret_sets=("greeting=psst",))
    assert rendered.outputs["greeting"] == "psst"  # read with config.get: the program chose to reveal it
    assert "greeting" not in json.dumps(rendered.outputs["token"])


def test_explicit_and_implicit_dependencies_are_recorded() -> None:
    rendered = fixture()
    network = rendered.get(NETWORK, "net")
    assert set(network.dependencies) == {
        rendered.get(VOLUME, "data").urn,
        rendered.get(RANDOM_PASSWORD, "password").urn,
    }


def test_resource_options_are_recorded() -> None:
    rendered = fixture()
    volume = rendered.get(VOLUME, "data")
    network = rendered.get(NETWORK, "net")
    assert (volume.protect, volume.retain_on_delete, volume.delete_before_replace) == (True, True, False)
    assert (network.protect, network.retain_on_delete, network.delete_before_replace) == (False, False, True)


def test_simulated_values_are_deterministic_marked_and_follow_rotation() -> None:
    urn = "urn:pulumi:dev::p::random:index/randomPassword:RandomPassword::pw"
    placeholders = Placeholders()

    def result(inputs: dict[str, object], trigger: object = None) -> str:
        request = Request(RANDOM_PASSWORD, urn, inputs, trigger)
        return str(placeholders.outputs(request)["result"])

    first = result({"length": 40})
    assert first == result({"length": 40})
    assert first.startswith(SECRET_MARKER) and len(first) == 40
    assert result({"length": 40, "keepers": {"rotation": "1"}}) != first  # a keeper rotates the value
    assert result({"length": 40}, trigger=1) != first  # so does a replacement trigger
    request = Request(CONTAINER, urn, {"image": "a"})
    assert len(resource_id(request)) == 64
    # a replaced container (other inputs) gets another id, as from Docker
    assert resource_id(request) != resource_id(Request(CONTAINER, urn, {"image": "b"}))


def test_the_cli_refuses_to_print_a_leaked_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "render", functools.partial(render, project_dir=PROGRAM))
    assert cli.main(["render", "--format", "json", "--set", "leak=true"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "lost its secret flag at outputs.leaked;" in captured.err
    assert SECRET_MARKER not in captured.err
    # and without the leak, the same program prints fine
    assert cli.main(["render", "--format", "json"]) == 0
    assert SECRET_MARKER not in capsys.readouterr().out
