"""validator/Dockerfile without a Docker daemon: what can be proven from its text and from the package
that `pip install .` inside it produces.

GIVEN the Dockerfile and a build context made of exactly the paths it COPYs
WHEN it is parsed, and the context is installed with pip into an empty folder
THEN the image runs `python -m validator` as a non-root user on a slim base, installs no dev extras, and
every project module the entry point imports comes from the installed package.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.image_support import canonical, image_requirements, installed_distributions

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "validator" / "Dockerfile"
PROJECT_PACKAGES = ("events", "services", "adapters", "validator", "kms", "local")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def copied_sources() -> list[str]:
    return [src for word, args in instructions() if word == "COPY" for src in args.split()[:-1]]


def test_slim_base_non_root_user_and_the_entry_point() -> None:
    steps = instructions()
    bases = [args for word, args in steps if word == "FROM"]
    assert len(bases) == 1 and bases[0].startswith("python:3.12-slim")
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    # the last USER comes after every RUN: nothing runs as root once it is set
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert all(i < last_user for i, (word, _) in enumerate(steps) if word == "RUN")
    (entry,) = [args for word, args in steps if word == "ENTRYPOINT"]
    assert json.loads(entry) == ["python", "-m", "validator"]


def test_installs_the_validators_requirements_and_the_package_without_its_dependencies() -> None:
    installs = [args for word, args in instructions() if word == "RUN" and "pip install" in args]
    assert len(installs) == 1
    commands = [c.split() for c in installs[0].split("&&") if "pip install" in c]
    assert commands == [
        ["pip", "install", "--no-compile", "-r", "validator/requirements.txt"],
        ["pip", "install", "--no-compile", "--no-deps", "."],
    ]
    assert not any(word == "COPY" and "tests" in args for word, args in instructions())


def test_the_image_requirements_are_pyprojects_and_leave_the_local_runtime_out() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    by_name = {canonical(r.name): r for r in map(Requirement, declared)}
    # GIVEN validator/requirements.txt, THEN each line pins exactly what pyproject.toml pins (no drift)
    for requirement in image_requirements():
        pinned = by_name.get(canonical(requirement.name))
        assert pinned is not None, f"{requirement.name} is not a dependency in pyproject.toml"
        assert (requirement.specifier, requirement.extras) == (pinned.specifier, pinned.extras), requirement
    # AND neither they nor what they pull in is a dependency only the local runtime or the Lambdas import
    installed = installed_distributions(image_requirements())
    for name in ("duckdb", "sqlcipher3-binary", "sqlcipher3", "cryptography", "typer", "rich", "aws-lambda-powertools"):
        assert name not in installed, f"the validator image would install {name}"


def test_every_copied_path_exists_and_survives_the_dockerignore() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in copied_sources():
        assert (ROOT / source).exists(), source
        # .dockerignore: the last matching pattern wins; "!" re-includes
        kept = True
        for pattern in ignore:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(source, bare):
                kept = negated
        assert kept, f"{source} is COPYed but excluded from the build context by .dockerignore"


@pytest.mark.slow
def test_the_package_built_from_the_copied_files_holds_everything_the_entry_point_imports(tmp_path: Path) -> None:
    # GIVEN a build context of only what the Dockerfile copies, installed as the image installs it
    context, target = tmp_path / "context", tmp_path / "target"
    for source in copied_sources():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            context.mkdir(exist_ok=True)
            shutil.copy2(path, context / source)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target", str(target)]
    subprocess.run([*pip, str(context)], check=True, timeout=240)
    assert (target / "validator" / "__main__.py").is_file()

    # WHEN every module validator/__main__.py imports (at the top and inside main) is imported with
    # only that folder and the third-party packages on the path: -S keeps the venv's .pth files, and
    # so the editable install of this checkout, out
    main_tree = ast.parse((ROOT / "validator" / "__main__.py").read_text(encoding="utf-8"))
    modules = sorted(
        {n.module for n in ast.walk(main_tree) if isinstance(n, ast.ImportFrom) and n.module}
        | {a.name for n in ast.walk(main_tree) if isinstance(n, ast.Import) for a in n.names}
    )
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import validator.__main__\n"
        f"ours = {{n: getattr(m, '__file__', None) for n, m in sys.modules.items() "
        f"if n.split('.')[0] in {PROJECT_PACKAGES!r}}}\n"
        "print(json.dumps(ours))\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(target), *site.getsitepackages()]),
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )

    # THEN they all import, and every project module came from the installed package
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "adapters.aws.wiring" in loaded and "validator.run" in loaded
    outside = {name: file for name, file in loaded.items() if file and not file.startswith(str(target))}
    assert not outside, outside
