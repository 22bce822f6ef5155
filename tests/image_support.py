"""What the validator image installs (validator/requirements.txt), and a Python that can import nothing else.

No Docker daemon here, so the image is never built: instead the validator runs in a subprocess whose
imports of third-party modules are refused unless a distribution the image installs provides them.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "validator" / "requirements.txt"
PROJECT_PACKAGES = ("events", "services", "adapters", "validator", "kms", "local")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_requirements() -> list[Requirement]:
    lines = REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in (raw.split("#", 1)[0].strip() for raw in lines) if line]


def installed_distributions(requirements: list[Requirement]) -> set[str]:
    """The requirements and everything they pull in, as pip would install them into the image."""
    found: set[str] = set()
    pending = [(r.name, frozenset(r.extras)) for r in requirements]
    while pending:
        name, extras = pending.pop()
        key = canonical(name)
        if key in found and not extras:
            continue
        found.add(key)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in (*extras, "")):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return found


def importable_modules(distributions: set[str]) -> set[str]:
    """Top-level module names those distributions provide (as installed in this venv)."""
    return {
        module
        for module, owners in metadata.packages_distributions().items()
        if any(canonical(owner) in distributions for owner in owners)
    }


# Runs in the subprocess: refuse every third-party import that the image would not have.
_GUARD = """
import importlib.abc, importlib.machinery, json, os, runpy, sys, sysconfig
allowed = set(json.loads(os.environ["IMAGE_MODULES"])) | set(sys.stdlib_module_names)
# The standard library's own files (e.g. _sysconfigdata_*) are in the image's Python too.
stdlib = tuple(os.path.realpath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib"))
site = tuple(os.path.realpath(p) + os.sep for p in sysconfig.get_paths().values() if "-packages" in p)
refused = []
def in_stdlib(name):
    spec = importlib.machinery.PathFinder.find_spec(name)
    origin = os.path.realpath(spec.origin) if spec is not None and spec.origin else ""
    return origin.startswith(stdlib) and not origin.startswith(site)
class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in allowed or top in sys.modules or (top == name and in_stdlib(name)):
            return None
        refused.append(top)
        raise ModuleNotFoundError(f"{top} is not installed in the validator image", name=name)
sys.meta_path.insert(0, NotInTheImage())
def report():
    third = sorted({n.partition(".")[0] for n in sys.modules} - set(sys.stdlib_module_names))
    sys.stderr.write("IMAGE-IMPORTS " + json.dumps({"loaded": third, "refused": sorted(set(refused))}) + "\\n")
import atexit
atexit.register(report)
sys.argv = ["validator"]
runpy.run_module("validator", run_name="__main__", alter_sys=True)
"""


def guarded_validator(env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run `python -m validator` with only the image's packages importable.

    Its stderr ends with a line `IMAGE-IMPORTS {"loaded": [...], "refused": [...]}` (top-level names)."""
    modules = importable_modules(installed_distributions(image_requirements())) | set(PROJECT_PACKAGES)
    return [sys.executable, "-c", _GUARD], {**env, "IMAGE_MODULES": json.dumps(sorted(modules))}


def image_imports(stderr: str) -> dict[str, list[str]]:
    (line,) = [line for line in stderr.splitlines() if line.startswith("IMAGE-IMPORTS ")]
    result: dict[str, list[str]] = json.loads(line.removeprefix("IMAGE-IMPORTS "))
    return result
