"""The local cAdvisor and docker-api-proxy images run the program's own containers: names without the socket.

The dev stack is rendered with this engine's data root (`dockerDataRoot`) and socket group
(`dockerSocketGroup`), as `make e2e` sets them, and its `payment-docker-api-proxy` and `payment-cadvisor` run on
the engine exactly as rendered (users, read-only root, capabilities, host mounts, flags, healthchecks), with a
sandbox volume for the proxy's socket volume and no network. The checks:

* both pass their own healthchecks, and cAdvisor, which has neither root, nor the host's /, nor the Docker
  socket, exports every metric `components.observability.metrics.CADVISOR` lists, with the `name` label of
  running containers (the proxy's and its own), the label the dashboards and alerts group by;
* with what cAdvisor is given (its user, the socket volume read-only), a client is refused every Docker API call
  the proxy does not serve (create, exec, archive, list, delete), with 403 and Docker's error body, while an
  inspect it serves answers 200 without the container's environment.

Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from components.observability.exporters import CADVISOR, DOCKER_API_PROXY, DOCKER_SOCKET, PROXY_SOCKET
from components.observability.metrics import CADVISOR as CADVISOR_METRICS
from tests.conftest import rendered, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import Sandbox, container_named, hardening_options, sandbox, wait_healthy

HEALTHY_WITHIN = 60
CLIENT = "demo"
"""A local image with curl (the demo stand-in), as the client an attacker holding cAdvisor's rights would use."""

REFUSED = (
    ("POST", "/v1.45/containers/create", '{"Image":"x","HostConfig":{"Binds":["/:/host"]}}'),
    ("POST", "/containers/{proxy}/exec", '{"Cmd":["id"]}'),
    ("GET", "/containers/{proxy}/exec", ""),
    ("GET", "/containers/{proxy}/archive?path=/", ""),
    ("GET", "/containers/json", ""),
    ("DELETE", "/containers/{proxy}", ""),
    ("GET", "/containers/{proxy}/json?size=1", ""),
    ("GET", "/containers/..%2Fimages/json", ""),
)
"""(method, path, body) the proxy must refuse: `{proxy}` is the proxy container's name."""


def _run(box: Sandbox, spec: dict[str, Any], image: str, volume: str) -> str:
    """`docker run` of a rendered container: its options, its host binds as rendered, `volume` for its volume."""
    name = box.name(str(spec["name"]))
    args = ["run", "--detach", "--name", name, "--init", "--network=none", *hardening_options(spec)]
    for mount in spec.get("mounts") or []:
        assert mount["type"] == "bind" and mount["readOnly"], mount
        args.append(f"--mount=type=bind,src={mount['source']},dst={mount['target']},readonly")
    for rendered_volume in spec.get("volumes") or []:
        readonly = ",readonly" if rendered_volume.get("readOnly") else ""
        args.append(f"--mount=type=volume,src={volume},dst={rendered_volume['containerPath']}{readonly}")
    proc = docker(*args, image, *(spec.get("command") or []))
    assert proc.returncode == 0, shown(proc)
    box.containers.append(name)
    return name


def test_cadvisor_names_containers_through_the_read_only_proxy(engine: str) -> None:
    """Healthy by their own healthchecks; named container metrics without the socket; forbidden calls refused."""
    images = {}
    for role in (CADVISOR, DOCKER_API_PROXY, CLIENT):
        if role not in CONTRACTS:
            unavailable(f"no contract for image {role!r}")
        images[role] = local_ref(CONTRACTS[role])
        if docker("image", "inspect", images[role]).returncode != 0:
            unavailable(f"{images[role]} is not built: run `python3 -m scripts.images {role}`")
    if not os.path.exists(DOCKER_SOCKET):
        unavailable(f"the engine's socket is not at {DOCKER_SOCKET} on this host")
    root = docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    driver = docker("info", "--format", "{{.Driver}}").stdout.strip()
    if driver != "overlay2":
        unavailable(f"the engine's storage driver is {driver!r}; cAdvisor's layer-id mount is overlay2's")
    group = os.stat(DOCKER_SOCKET).st_gid
    render = rendered("dev", f"dockerDataRoot={root}", f"dockerSocketGroup={group}")
    proxy_spec = dict(container_named(render, f"payment-{DOCKER_API_PROXY}").revealed_inputs)
    cadvisor_spec = dict(container_named(render, f"payment-{CADVISOR}").revealed_inputs)
    assert not str(cadvisor_spec["user"]).startswith("0"), cadvisor_spec["user"]

    with sandbox("cadvisor") as box:
        volume = box.volume("docker-api-proxy-socket")
        proxy = _run(box, proxy_spec, images[DOCKER_API_PROXY], volume)
        seconds = wait_healthy(proxy, proxy_spec["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"docker-api-proxy: healthy after {seconds:.1f} s")
        cadvisor = _run(box, cadvisor_spec, images[CADVISOR], volume)
        seconds = wait_healthy(cadvisor, cadvisor_spec["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"cadvisor: healthy after {seconds:.1f} s")

        port = CONTRACTS[CADVISOR].ports[0]
        started = time.monotonic()
        missing: set[str] = set(CADVISOR_METRICS)
        text = ""
        named = False
        while time.monotonic() - started < 60:
            scrape = docker("exec", cadvisor, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics")
            assert scrape.returncode == 0, shown(scrape)
            text = scrape.stdout
            missing = {m for m in CADVISOR_METRICS if not re.search(rf"^{m}[{{ ]", text, re.MULTILINE)}
            named = all(f'name="{n}"' in text for n in (cadvisor, proxy))
            if not missing and named:
                break
            time.sleep(2)
        assert not missing, f"metrics missing: {sorted(missing)}\n{text[-2000:]}"
        for name in (cadvisor, proxy):
            series = [s for s in text.splitlines() if s.startswith("container_memory_usage_bytes{") and name in s]
            assert any(f'name="{name}"' in line for line in series), (
                f"no named memory series for {name}:\n{text[-2000:]}"
            )
        print(f"cadvisor: all {len(CADVISOR_METRICS)} metrics, named, {time.monotonic() - started:.1f} s after healthy")

        # What cAdvisor's user can do with the socket volume it is given.
        script = "; ".join(
            f"curl -s -o /tmp/body -w '%{{http_code}} ' --unix-socket {PROXY_SOCKET} -X {method}"
            + (f" -H 'Content-Type: application/json' -d '{body}'" if body else "")
            + f" 'http://docker{path.format(proxy=proxy)}'; cat /tmp/body; echo"
            for method, path, body in REFUSED
        )
        script += (
            f"; curl -s -o /tmp/body -w '%{{http_code}} ' --unix-socket {PROXY_SOCKET}"
            f" 'http://docker/v1.45/containers/{proxy}/json'; cat /tmp/body; echo"
        )
        client = box.name("client")
        box.containers.append(client)
        proc = docker(
            "run", "--name", client, "--network=none", "--read-only", "--tmpfs=/tmp", "--cap-drop=ALL",
            "--security-opt=no-new-privileges:true", "--user", str(cadvisor_spec["user"]),
            f"--mount=type=volume,src={volume},dst={os.path.dirname(PROXY_SOCKET)},readonly",
            "--entrypoint", "sh", images[CLIENT], "-c", script,
        )  # fmt: skip
        assert proc.returncode == 0, shown(proc)
        answers = [line for line in proc.stdout.splitlines() if line.strip()]  # a body may end with a newline
        assert len(answers) == len(REFUSED) + 1, shown(proc)
        for (method, path, _), answer in zip(REFUSED, answers, strict=False):
            code, _, body = answer.partition(" ")
            assert code == "403", f"{method} {path}: {answer}"
            assert json.loads(body)["message"].startswith("docker-api-proxy: "), answer
        code, _, body = answers[-1].partition(" ")
        assert code == "200", answers[-1]
        inspected = json.loads(body)
        assert inspected["Name"] == f"/{proxy}" and "Env" not in inspected["Config"], sorted(inspected["Config"])
        logs = docker("logs", proxy).stderr
        assert logs.count("refused ") >= len(REFUSED), logs[-2000:]
        print(f"docker-api-proxy: {len(REFUSED)} forbidden calls refused with 403, inspect served without Env")
