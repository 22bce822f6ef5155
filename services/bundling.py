"""Lambda code built without Docker: the project's packages plus their runtime dependencies for arm64.

There is no Docker daemon on the build machines, so the usual container bundling is out. Instead pip
downloads wheels built for the Lambda platform (manylinux2014_aarch64, CPython 3.12, binary only) into
`build/lambda/deps-<hash>/`, keyed by the requirement strings; that directory is a cache, so after the
first build synthesis works offline. The project packages are then laid over a hard-linked copy of it
in `build/lambda/code-<hash>/`, keyed by the dependencies and every source file. All functions share
that one asset (one upload); each picks its module with its handler string.

boto3 and botocore are left out: the Lambda runtime provides them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"

# The project's runtime dependencies a function imports; versions come from pyproject.toml. duckdb: the
# reports API imports services.reports.history, which imports it (history itself answers 501 on Lambda).
LAMBDA_DEPENDENCIES = ("pydantic", "aws-lambda-powertools", "duckdb")
# The project packages a function needs: the reports API also uses local.output (CSV) and local/static.
# validator and kms are not used in Lambda.
LAMBDA_PACKAGES = ("events", "services", "adapters", "local")
# Provided by the Lambda runtime; pip pulls botocore in through aws-xray-sdk.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer", "bin")
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.12"
# CDK constructs and caches are not function code.
SKIPPED_NAMES = ("__pycache__", "construct.py", "bundling.py")
# Bytecode, and the parser's C fast path with its source: built for this machine, not for Lambda's
# arm64 (the functions use the pure-Python parser, which gives the same results).
SKIPPED_SUFFIXES = (".pyc", ".so", ".c", ".pyi")
COMPLETE_MARKER = ".complete"


class BundlingError(RuntimeError):
    pass


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    if not match:
        raise BundlingError(f"cannot read the package name of {requirement!r}")
    return match.group(0).lower().replace("_", "-")


def lambda_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirement strings of LAMBDA_DEPENDENCIES, exactly as pyproject.toml pins them."""
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    by_name = {_name(req): req for req in declared}
    missing = [name for name in LAMBDA_DEPENDENCIES if name not in by_name]
    if missing:
        raise BundlingError(f"pyproject.toml does not declare {missing}")
    return [by_name[name] for name in LAMBDA_DEPENDENCIES]


def _digest(parts: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:16]


def _source_files(root: Path, packages: Iterable[str]) -> Iterator[Path]:
    for package in packages:
        for path in sorted((root / package).rglob("*")):
            if (
                path.is_file()
                and not any(part in SKIPPED_NAMES for part in path.parts)
                and path.suffix not in SKIPPED_SUFFIXES
            ):
                yield path


@contextmanager
def _exclusive(build_dir: Path) -> Iterator[None]:
    """One builder at a time: parallel test workers (and two synths) share the cache and its staging dirs."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def dependencies_dir(requirements: list[str], build_dir: Path = BUILD_DIR) -> Path:
    """The installed dependencies for the Lambda platform: from the cache, or pip-installed once."""
    key = _digest(
        [
            PLATFORM.encode(),
            PYTHON_VERSION.encode(),
            *map(str.encode, PROVIDED_BY_RUNTIME + tuple(requirements)),
        ]
    )
    target = build_dir / f"deps-{key}"
    if (target / COMPLETE_MARKER).exists():
        return target
    with _exclusive(build_dir):
        if not (target / COMPLETE_MARKER).exists():  # another process may have built it meanwhile
            _install_dependencies(requirements, build_dir, key, target)
    return target


def _install_dependencies(requirements: list[str], build_dir: Path, key: str, target: Path) -> None:
    # Per process: a builder killed mid-pip leaves its pip writing into its own directory, not the next one's.
    staging = build_dir / f"deps-{key}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--only-binary=:all:", "--target", str(staging), *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BundlingError(
            f"pip could not install the Lambda dependencies (is the package index reachable?):\n{result.stderr.strip()}"
        )
    for entry in staging.iterdir():
        name = entry.name.lower()
        if any(name == p or name.startswith(f"{p}-") for p in PROVIDED_BY_RUNTIME):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (staging / COMPLETE_MARKER).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def lambda_code_dir(root: Path = ROOT, build_dir: Path = BUILD_DIR) -> Path:
    """The directory to hand to `lambda_.Code.from_asset`: dependencies plus the project packages."""
    deps = dependencies_dir(lambda_requirements(root / "pyproject.toml"), build_dir)
    files = list(_source_files(root, LAMBDA_PACKAGES))
    key = _digest(
        [deps.name.encode()]
        + [part for f in files for part in (f.relative_to(root).as_posix().encode(), f.read_bytes())]
    )
    target = build_dir / f"code-{key}"
    if (target / COMPLETE_MARKER).exists():
        return target
    with _exclusive(build_dir):
        if not (target / COMPLETE_MARKER).exists():
            _assemble_code(root, build_dir, deps, files, key, target)
    return target


def _assemble_code(root: Path, build_dir: Path, deps: Path, files: list[Path], key: str, target: Path) -> None:
    staging = build_dir / f"code-{key}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(deps, staging, copy_function=_link_or_copy)
    (staging / COMPLETE_MARKER).unlink()
    for path in files:
        destination = staging / path.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    (staging / COMPLETE_MARKER).write_text(key + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    # Only the newest code directory is kept; dependency caches stay until `make clean`.
    for old in build_dir.glob("code-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
