"""The local cAdvisor image runs the program's own cAdvisor container and exports the container metrics.

The rendered dev stack's `payment-cadvisor` (user root with every capability dropped, read-only root, the
read-only host mounts of `components.observability.exporters.CADVISOR_HOST_MOUNTS`, the rendered flags,
healthcheck) runs
on the engine with the local image in place of `ghcr.io/google/cadvisor:v0.60.6`, with no network (it reads
the engine through the mounted Docker socket). One departure: when the engine keeps its data somewhere other
than /var/lib/docker (REAL-ENGINE-NOTES: that bind fails), the engine's data root is mounted there instead.
Its own healthcheck must pass and /metrics must hold every metric `components.observability.metrics.CADVISOR` lists, for
the cAdvisor container itself among others. Printed timings are shown with `pytest -s`.
"""

from __future__ import annotations

import os
import re
import time

from components.observability.exporters import CADVISOR
from components.observability.metrics import CADVISOR as CADVISOR_METRICS
from tests.conftest import rendered, unavailable
from tests.images.conftest import CONTRACTS, docker, local_ref, shown
from tests.images.harness import container_named, hardening_options, sandbox, wait_healthy

HEALTHY_WITHIN = 60
DOCKER_ROOT = "/var/lib/docker"


def test_cadvisor_is_healthy_and_exports_the_container_metrics(engine: str) -> None:
    """Healthy by its own healthcheck; every listed container_* metric is exported, with its own container named."""
    if CADVISOR not in CONTRACTS:
        unavailable(f"no contract for image {CADVISOR!r}")
    image = local_ref(CONTRACTS[CADVISOR])
    if docker("image", "inspect", image).returncode != 0:
        unavailable(f"{image} is not built: run `python3 -m scripts.images {CADVISOR}`")
    spec = container_named(rendered("dev"), f"payment-{CADVISOR}").revealed_inputs
    root = docker("info", "--format", "{{.DockerRootDir}}").stdout.strip() or DOCKER_ROOT
    binds = []
    for mount in spec["mounts"]:
        assert mount["type"] == "bind" and mount["readOnly"], mount
        source = mount["source"]
        if source == DOCKER_ROOT and not os.path.isdir(DOCKER_ROOT):
            source = root
        binds.append(f"--mount=type=bind,src={source},dst={mount['target']},readonly")
    with sandbox("cadvisor") as box:
        name = box.name(str(spec["name"]))
        args = ["run", "--detach", "--name", name, "--init", "--network=none", *hardening_options(spec), *binds]
        proc = docker(*args, image, *spec["command"])
        box.containers.append(name)
        assert proc.returncode == 0, shown(proc)
        seconds = wait_healthy(name, spec["healthcheck"]["tests"], HEALTHY_WITHIN)
        print(f"cadvisor: healthy after {seconds:.1f} s")

        port = CONTRACTS[CADVISOR].ports[0]
        started = time.monotonic()
        missing: set[str] = set(CADVISOR_METRICS)
        text = ""
        while time.monotonic() - started < 60:
            scrape = docker("exec", name, "wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/metrics")
            assert scrape.returncode == 0, shown(scrape)
            text = scrape.stdout
            missing = {m for m in CADVISOR_METRICS if not re.search(rf"^{m}[{{ ]", text, re.MULTILINE)}
            if not missing and f'name="{name}"' in text:
                break
            time.sleep(2)
        assert not missing, f"metrics missing: {sorted(missing)}\n{text[-2000:]}"
        own = [line for line in text.splitlines() if line.startswith("container_memory_usage_bytes{") and name in line]
        assert own, f"no memory series for the cAdvisor container {name} itself:\n{text[-2000:]}"
        elapsed = time.monotonic() - started
        print(f"cadvisor: all {len(CADVISOR_METRICS)} metrics exported {elapsed:.1f} s after it was healthy")
