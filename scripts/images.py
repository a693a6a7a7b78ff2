"""`make images`: build every image the platform needs on a machine that reaches no container registry.

    python3 -m scripts.images [NAME ...]     # the base image, then each images/NAME (default: all)
    python3 -m scripts.images --list         # each image, the official image it stands for, its kind

The base, `payment-local/debian:bookworm`, is `debootstrap --variant=minbase bookworm`, made slimmer (no
docs, no recommends) and cached as a tarball before `docker import`. Each folder `images/<name>/` follows the
convention in images/README.md: a Dockerfile FROM a local image, an optional host-side `prepare.sh` that
writes build artifacts to `$OUT`, three required labels. The build context is a temporary copy of the folder
plus `artifacts/`; the image is tagged `payment-local/<name>:<hash of the context>` and
`payment-local/<name>:local`, and a build whose hashed tag exists is skipped, so a second run takes seconds.

Builds use the legacy builder (`DOCKER_BUILDKIT=0`, Debian ships no buildx) with `--network host`: the
containers of a build reach deb.debian.org through the host's resolver and never a Docker network.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO / "images"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "payment-platform" / "images"
ARTIFACTS_DIR = CACHE_DIR / "artifacts"
LOG_DIR = CACHE_DIR / "logs"

PREFIX = "payment-local/"
LOCAL_TAG = "local"
HASH_LENGTH = 12

TITLE_LABEL = "org.opencontainers.image.title"
STANDS_FOR_LABEL = "com.payment-platform.stands-for"
KIND_LABEL = "com.payment-platform.kind"
VERSION_NOTE_LABEL = "com.payment-platform.version-note"
REQUIRED_LABELS = (TITLE_LABEL, STANDS_FOR_LABEL, KIND_LABEL)
KINDS = ("local-build", "stand-in")

DEBIAN_MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Bump when the base's tweaks change: the cached tarball is then rebuilt and every image after it.
BASE_REVISION = 1


class BuildError(Exception):
    """A step of one image's build failed; the message says which and where its log is."""


@dataclass(frozen=True)
class Base:
    """A Debian base image made with debootstrap."""

    suite: str

    @property
    def tag(self) -> str:
        return f"{PREFIX}debian:{self.suite}"

    @property
    def revision_tag(self) -> str:
        """Also tagged on import: the base at `tag` is current when both name the same image."""
        return f"{self.tag}-r{BASE_REVISION}"

    @property
    def tarball(self) -> Path:
        return CACHE_DIR / f"debian-{self.suite}-minbase-r{BASE_REVISION}.tar"


BASES = {base.tag: base for base in (Base("bookworm"), Base("trixie"))}


@dataclass
class ImageSpec:
    """One folder under images/: what the Dockerfile says about itself."""

    name: str
    folder: Path
    labels: dict[str, str]
    parents: list[str]
    """Every FROM reference, in order."""

    @property
    def prepare(self) -> Path | None:
        script = self.folder / "prepare.sh"
        return script if script.exists() else None

    @property
    def local_parents(self) -> list[str]:
        """Names of the images/ folders this one is built FROM."""
        return [ref[len(PREFIX) :].split(":")[0] for ref in self.parents if ref.startswith(PREFIX) and ref not in BASES]

    @property
    def bases(self) -> list[Base]:
        return [BASES[ref] for ref in self.parents if ref in BASES]

    def label_problems(self) -> list[str]:
        problems = [f"no LABEL {key}" for key in REQUIRED_LABELS if not self.labels.get(key)]
        kind = self.labels.get(KIND_LABEL)
        if kind and kind not in KINDS:
            problems.append(f"LABEL {KIND_LABEL}={kind!r}, expected one of {', '.join(KINDS)}")
        problems += [
            f"FROM {ref}: not a local image (no registry is reachable); use {PREFIX}...:{LOCAL_TAG} or a base"
            for ref in self.parents
            if not ref.startswith(PREFIX)
        ]
        return problems


@dataclass
class Result:
    name: str
    status: str = "pending"
    """built, cached, failed or skipped."""
    seconds: float = 0.0
    tag: str = ""
    size: str = ""
    detail: str = ""
    steps: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            keyword, _, rest = current.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        current = ""
    if current.strip():
        keyword, _, rest = current.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def parse_labels(arguments: str) -> dict[str, str]:
    """`LABEL a="x" b=y` -> {"a": "x", "b": "y"} (the legacy `LABEL key value` form too)."""
    words = shlex.split(arguments)
    if len(words) >= 2 and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    labels = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"LABEL {arguments!r}: {word!r} is not key=value")
        labels[key] = value
    return labels


def read_spec(folder: Path) -> ImageSpec:
    dockerfile = folder / "Dockerfile"
    if not dockerfile.is_file():
        raise BuildError(f"{folder}: no Dockerfile")
    labels: dict[str, str] = {}
    parents: list[str] = []
    for keyword, arguments in dockerfile_instructions(dockerfile.read_text()):
        if keyword == "LABEL":
            labels.update(parse_labels(arguments))
        elif keyword == "FROM":
            words = [w for w in arguments.split() if not w.startswith("--")]
            parents.append(words[0])
    return ImageSpec(name=folder.name, folder=folder, labels=labels, parents=parents)


def discover() -> dict[str, ImageSpec]:
    specs = {}
    for folder in sorted(IMAGES_DIR.iterdir()):
        if folder.is_dir() and (folder / "Dockerfile").exists():
            specs[folder.name] = read_spec(folder)
    return specs


def build_order(specs: dict[str, ImageSpec], wanted: Sequence[str]) -> list[str]:
    """The wanted images and the local images they are FROM, parents first."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order:
            return
        if name not in specs:
            via = f" (FROM in {chain[-1]})" if chain else ""
            raise BuildError(f"no folder images/{name}{via}; known: {', '.join(specs)}")
        if name in visiting:
            raise BuildError(f"FROM cycle: {' -> '.join((*chain, name))}")
        visiting.add(name)
        for parent in specs[name].local_parents:
            visit(parent, (*chain, name))
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


# ------------------------------------------------------------------------------------------------- Docker


def docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=capture)


def image_id(ref: str) -> str | None:
    proc = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_size(ref: str) -> str:
    proc = docker("image", "inspect", "--format", "{{.Size}}", ref, check=False)
    if proc.returncode != 0:
        return "?"
    return f"{int(proc.stdout.strip()) / 1e6:.0f} MB"


def require_engine() -> None:
    if shutil.which("docker") is None:
        raise BuildError("no docker CLI on PATH; run scripts/engine.sh start")
    proc = docker("version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})", check=False)
    if proc.returncode != 0:
        raise BuildError(f"no Docker engine answers ({proc.stderr.strip()}); run scripts/engine.sh start")
    print(f"images: engine {proc.stdout.strip()}, cache {CACHE_DIR}")


def run_logged(command: Sequence[str], log: Path, what: str, **kwargs: object) -> None:
    """Run a command with its output in `log`; on failure raise with the log's last lines."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BuildError(f"{what} failed (exit {proc.returncode}); log {log}:\n{tail}")


# --------------------------------------------------------------------------------------------------- Base

SOURCES = {
    "bookworm": f"""\
deb {DEBIAN_MIRROR} bookworm main
deb {DEBIAN_MIRROR} bookworm-updates main
deb {SECURITY_MIRROR} bookworm-security main
""",
    "trixie": f"""\
deb {DEBIAN_MIRROR} trixie main
deb {DEBIAN_MIRROR} trixie-updates main
deb {SECURITY_MIRROR} trixie-security main
""",
}

APT_CONF = """\
// payment-platform base image: small images, no interaction.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
"""

DPKG_NODOC = """\
# payment-platform base image: no documentation, man pages or translations (licences are kept).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""


def tweak_rootfs(root: Path, suite: str) -> None:
    """What the base adds to debootstrap's minbase: apt sources with security updates, slim apt and dpkg."""
    (root / "etc/apt/sources.list").write_text(SOURCES[suite])
    (root / "etc/apt/apt.conf.d/90payment-platform").write_text(APT_CONF)
    (root / "etc/dpkg/dpkg.cfg.d/90payment-platform-nodoc").write_text(DPKG_NODOC)
    for pattern in ("usr/share/man/*", "usr/share/info/*", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.is_file():
                path.unlink()
    for doc in (root / "usr/share/doc").glob("*"):
        if doc.is_dir() and not doc.is_symlink():
            for item in doc.iterdir():
                if item.name != "copyright":
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
    # The engine writes these at run time; the build host's copies do not belong in the image.
    for name in ("etc/resolv.conf", "etc/hostname"):
        (root / name).unlink(missing_ok=True)


def ensure_debootstrap() -> None:
    if shutil.which("debootstrap") or Path("/usr/sbin/debootstrap").exists():
        return
    print("images: installing debootstrap (apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"], check=True, env=env)


def ensure_base(base: Base) -> Result:
    """Import the base image unless it exists at the current revision; debootstrap first if not cached."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Two runs at once (two engineers, one engine) must not debootstrap into the same folder.
    with (CACHE_DIR / f".lock-{base.suite}").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_base(base)


def _ensure_base(base: Base) -> Result:
    result = Result(name=base.tag, tag=base.tag)
    started = time.monotonic()
    if image_id(base.revision_tag) and image_id(base.tag) == image_id(base.revision_tag):
        result.status = "cached"
    else:
        if not base.tarball.exists():
            ensure_debootstrap()
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            root = CACHE_DIR / f"rootfs-{base.suite}.tmp"
            if root.exists():
                shutil.rmtree(root)
            print(f"images: debootstrap --variant=minbase {base.suite} (about 1-2 minutes)")
            step = time.monotonic()
            run_logged(
                ["debootstrap", "--variant=minbase", base.suite, str(root), DEBIAN_MIRROR],
                LOG_DIR / f"debootstrap-{base.suite}.log",
                f"debootstrap {base.suite}",
            )
            result.steps["debootstrap"] = time.monotonic() - step
            tweak_rootfs(root, base.suite)
            partial = base.tarball.with_suffix(".partial")
            subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
            partial.rename(base.tarball)
            shutil.rmtree(root)
        step = time.monotonic()
        run_logged(
            [
                "docker",
                "import",
                "--change",
                'CMD ["/bin/bash"]',
                "--change",
                f"LABEL {TITLE_LABEL}=payment-local-debian-{base.suite}",
                "--change",
                f"LABEL {KIND_LABEL}=local-build",
                "--change",
                f"LABEL {STANDS_FOR_LABEL}=debian:{base.suite}-slim",
                str(base.tarball),
                base.tag,
            ],
            LOG_DIR / f"import-{base.suite}.log",
            f"docker import {base.tag}",
        )
        docker("tag", base.tag, base.revision_tag)
        result.steps["import"] = time.monotonic() - step
        result.status = "built"
    result.seconds = time.monotonic() - started
    result.size = image_size(base.tag)
    return result


# ------------------------------------------------------------------------------------------------ Context


def context_hash(context: Path, parent_ids: Iterable[str]) -> str:
    """SHA-256 over every path, mode and content in the context, and the IDs of the images it is FROM."""
    digest = hashlib.sha256()
    for parent in parent_ids:
        digest.update(f"parent {parent}\n".encode())
    for path in sorted(context.rglob("*")):
        rel = path.relative_to(context).as_posix()
        mode = path.lstat().st_mode
        if path.is_symlink():
            digest.update(f"link {rel} {os.readlink(path)}\n".encode())
        elif path.is_dir():
            digest.update(f"dir {rel} {mode & 0o7777:o}\n".encode())
        else:
            digest.update(f"file {rel} {mode & 0o7777:o}\n".encode())
            with path.open("rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:HASH_LENGTH]


def is_build_tag(tag: str) -> bool:
    """A content-hashed tag `make images` gave a build (and may prune once superseded)."""
    return len(tag) == HASH_LENGTH and all(c in "0123456789abcdef" for c in tag)


def prune_superseded(name: str, current: str) -> None:
    """Untag this image's earlier hashed builds (their layers go once nothing uses them); errors are ignored."""
    proc = docker("image", "ls", "--format", "{{.Tag}}", f"{PREFIX}{name}", check=False)
    for tag in proc.stdout.split():
        if tag != current and is_build_tag(tag):
            docker("image", "rm", f"{PREFIX}{name}:{tag}", check=False)


def make_context(spec: ImageSpec, out: Path, into: Path) -> Path:
    context = into / "context"
    shutil.copytree(spec.folder, context, symlinks=True)
    if (context / "artifacts").exists():
        raise BuildError(f"images/{spec.name}/artifacts exists: that name is reserved for what prepare.sh writes")
    if out.exists():
        shutil.copytree(out, context / "artifacts", symlinks=True)
    else:
        (context / "artifacts").mkdir()
    return context


def build_image(spec: ImageSpec) -> Result:
    result = Result(name=spec.name)
    started = time.monotonic()
    problems = spec.label_problems()
    if problems:
        raise BuildError(f"images/{spec.name}/Dockerfile: " + "; ".join(problems))
    out = ARTIFACTS_DIR / spec.name
    if spec.prepare is not None:
        if not os.access(spec.prepare, os.X_OK):
            raise BuildError(f"images/{spec.name}/prepare.sh is not executable (chmod +x)")
        out.mkdir(parents=True, exist_ok=True)
        step = time.monotonic()
        print(f"images: {spec.name}: prepare.sh (OUT={out})")
        run_logged(
            [str(spec.prepare)],
            LOG_DIR / f"{spec.name}.prepare.log",
            f"images/{spec.name}/prepare.sh",
            cwd=spec.folder,
            env={**os.environ, "OUT": str(out)},
        )
        result.steps["prepare"] = time.monotonic() - step
    parent_ids = []
    for ref in spec.parents:
        parent = image_id(ref)
        if parent is None:
            raise BuildError(f"{spec.name}: FROM {ref}: no such local image")
        parent_ids.append(parent)
    with tempfile.TemporaryDirectory(prefix=f"payment-image-{spec.name}-") as tmp:
        context = make_context(spec, out, Path(tmp))
        digest = context_hash(context, parent_ids)
        hashed = f"{PREFIX}{spec.name}:{digest}"
        local = f"{PREFIX}{spec.name}:{LOCAL_TAG}"
        result.tag = hashed
        if image_id(hashed):
            docker("tag", hashed, local)
            result.status = "cached"
        else:
            print(f"images: {spec.name}: docker build -> {hashed}")
            step = time.monotonic()
            run_logged(
                ["docker", "build", "--network", "host", "--tag", hashed, "--tag", local, str(context)],
                LOG_DIR / f"{spec.name}.build.log",
                f"docker build images/{spec.name}",
                env={**os.environ, "DOCKER_BUILDKIT": "0"},
            )
            result.steps["build"] = time.monotonic() - step
            result.status = "built"
            prune_superseded(spec.name, digest)
    result.seconds = time.monotonic() - started
    result.size = image_size(hashed)
    return result


# -------------------------------------------------------------------------------------------------- Main


def print_table(results: Sequence[Result]) -> None:
    rows = [("image", "status", "seconds", "size", "tag")]
    for r in results:
        steps = " ".join(f"{k} {v:.0f}s" for k, v in r.steps.items())
        seconds = f"{r.seconds:.1f}" + (f" ({steps})" if steps else "")
        rows.append((r.name, r.status, seconds, r.size, r.tag or r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip())


def list_images(specs: dict[str, ImageSpec]) -> int:
    rows = [("image", "stands for", "kind", "note")]
    rows += [
        (
            name,
            spec.labels.get(STANDS_FOR_LABEL, "(missing label)"),
            spec.labels.get(KIND_LABEL, "(missing label)"),
            spec.labels.get(VERSION_NOTE_LABEL, ""),
        )
        for name, spec in specs.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]).rstrip())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m scripts.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="images/ folders to build (default: all) and their local parents")
    parser.add_argument("--list", action="store_true", help="print each image, what it stands for and its kind")
    args = parser.parse_args(argv)

    try:
        specs = discover()
        if args.list:
            return list_images(specs)
        order = build_order(specs, args.names or list(specs))
        require_engine()
    except BuildError as error:
        print(f"images: error: {error}", file=sys.stderr)
        return 1

    results: list[Result] = []
    failed: set[str] = set()
    bases = {base.tag: base for name in order for base in specs[name].bases}
    for base in bases.values():
        try:
            results.append(ensure_base(base))
        except (BuildError, subprocess.CalledProcessError) as error:
            print(f"images: error: {base.tag}: {error}", file=sys.stderr)
            results.append(Result(name=base.tag, status="failed", detail=str(error).splitlines()[0]))
            failed.add(base.tag)
    for name in order:
        spec = specs[name]
        blocked = [p for p in (*spec.local_parents, *(b.tag for b in spec.bases)) if p in failed]
        if blocked:
            results.append(Result(name=name, status="skipped", detail=f"FROM failed {', '.join(blocked)}"))
            failed.add(name)
            continue
        try:
            results.append(build_image(spec))
        except (BuildError, subprocess.CalledProcessError) as error:
            print(f"images: error: {error}", file=sys.stderr)
            results.append(Result(name=name, status="failed", detail=str(error).splitlines()[0]))
            failed.add(name)
    print_table(results)
    if failed:
        print(f"\nimages: {len(failed)} failed: {', '.join(sorted(failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
