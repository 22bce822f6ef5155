"""The Docker-free Lambda bundler: pip once for arm64, then a cache; the code asset holds only function code.

GIVEN a build directory (a temporary one here)
WHEN the bundler builds the dependencies and the code directory
THEN pip runs only when the cache lacks the requirements, and the asset is the project packages laid
     over the dependencies, without CDK constructs or caches.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from services import bundling
from services.bundling import (
    COMPLETE_MARKER,
    BundlingError,
    dependencies_dir,
    lambda_code_dir,
    lambda_requirements,
)

ROOT = Path(__file__).resolve().parents[2]


class FakePip:
    """Stands in for `pip install --target`: writes one package (and boto3, which must be dropped)."""

    def __init__(self, returncode: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.returncode = returncode

    def __call__(self, command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(command)
        target = Path(command[command.index("--target") + 1])
        for package in ("pydantic", "boto3", "botocore"):
            (target / package).mkdir()
            (target / package / "__init__.py").write_text("")
        (target / "boto3-1.0.dist-info").mkdir()
        return subprocess.CompletedProcess(command, self.returncode, "", "no network" if self.returncode else "")


def test_requirements_come_from_pyproject() -> None:
    requirements = lambda_requirements()
    assert [r.split(">")[0].split("[")[0] for r in requirements] == ["pydantic", "aws-lambda-powertools", "duckdb"]
    assert any("[tracer,parser]" in r for r in requirements)


def test_pip_runs_once_for_the_lambda_platform_then_the_cache_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pip = FakePip()
    monkeypatch.setattr(bundling.subprocess, "run", pip)
    first = dependencies_dir(["pydantic>=2"], tmp_path)
    second = dependencies_dir(["pydantic>=2"], tmp_path)
    assert first == second and len(pip.calls) == 1
    command = pip.calls[0]
    for flag in ("--platform", "manylinux2014_aarch64", "--only-binary=:all:", "--python-version", "3.12"):
        assert flag in command
    assert (first / "pydantic").is_dir() and (first / COMPLETE_MARKER).exists()
    assert not (first / "boto3").exists() and not (first / "botocore").exists()
    assert not (first / "boto3-1.0.dist-info").exists()
    # Other requirements are another cache entry.
    assert dependencies_dir(["pydantic>=2", "rich"], tmp_path) != first
    assert len(pip.calls) == 2


def test_pip_failure_is_one_clear_error_and_leaves_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundling.subprocess, "run", FakePip(returncode=1))
    with pytest.raises(BundlingError, match="no network"):
        dependencies_dir(["pydantic>=2"], tmp_path)
    assert not list(tmp_path.glob("deps-*/" + COMPLETE_MARKER))


def _project(root: Path) -> None:
    (root / "pyproject.toml").write_text(
        '[project]\ndependencies = ["pydantic>=2,<3", "aws-lambda-powertools[tracer]>=3", "duckdb", "rich"]\n'
    )
    for package in bundling.LAMBDA_PACKAGES:
        (root / package / "__pycache__").mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "construct.py").write_text("import aws_cdk\n")
        (root / package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (root / "services" / "ingest").mkdir()
    (root / "services" / "ingest" / "handler.py").write_text("def handler(event, context): ...\n")
    (root / "validator").mkdir()
    (root / "validator" / "run.py").write_text("")


def test_code_dir_is_dependencies_plus_function_code_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip = FakePip()
    monkeypatch.setattr(bundling.subprocess, "run", pip)
    root, build = tmp_path / "project", tmp_path / "build"
    root.mkdir()
    _project(root)
    code = lambda_code_dir(root, build)
    assert (code / "services" / "ingest" / "handler.py").exists()
    assert (code / "pydantic" / "__init__.py").exists()
    assert not list(code.rglob("construct.py")) and not list(code.rglob("__pycache__"))
    assert not (code / "validator").exists()
    assert "rich" not in " ".join(pip.calls[0])
    # Unchanged sources: the same directory, no pip. A changed handler: a new directory, the old one gone.
    assert lambda_code_dir(root, build) == code and len(pip.calls) == 1
    (root / "services" / "ingest" / "handler.py").write_text("def handler(event, context): return 1\n")
    changed = lambda_code_dir(root, build)
    assert changed != code and not code.exists() and len(pip.calls) == 1


def test_builders_running_at_once_share_one_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a slow pip, and two synths (two test workers, say) asking for the code directory at once
    pip = FakePip()

    def slow_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        time.sleep(0.3)  # long enough for the other builder to arrive while this one installs
        return pip(command, **kwargs)

    monkeypatch.setattr(bundling.subprocess, "run", slow_pip)
    root, build = tmp_path / "project", tmp_path / "build"
    root.mkdir()
    _project(root)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: lambda_code_dir(root, build), range(2)))
    # THEN pip ran once, both got the same complete directory, and no half-built staging is left
    assert len(pip.calls) == 1
    assert results[0] == results[1] and (results[0] / "services" / "ingest" / "handler.py").exists()
    assert not list(build.glob("*.partial*"))


def test_the_real_cache_serves_synthesis_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once built (the infrastructure tests build it), the real code directory needs no network."""
    built = lambda_code_dir()

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pip must not run when the cache holds the dependencies")

    monkeypatch.setattr(bundling.subprocess, "run", no_network)
    assert lambda_code_dir() == built
    assert (built / "aws_lambda_powertools").is_dir() and (built / "pydantic_core").is_dir()
    assert any((built / "pydantic_core").glob("*aarch64*.so"))
