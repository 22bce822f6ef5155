from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.settings import Settings
from local.wiring import LocalRuntime, bootstrap

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = Path(__file__).resolve().parent / "events"


def pytest_configure(config: pytest.Config) -> None:
    """One master key location for the whole run (module fixtures build homes too), never the
    developer's own ~/.config."""
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="inventory-test-config-")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    rt = bootstrap(Settings(home=tmp_path / "home", retry_base_seconds=0.0, max_attempts=3))
    yield rt
    rt.close()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real `inventory` command in a temporary home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    env["INVENTORY_HOME"] = str(tmp_path / "home")
    env["INVENTORY_RETRY_BASE_SECONDS"] = "0"
    env["INVENTORY_MASTER_KEY_FILE"] = str(tmp_path / "keys" / "master.key")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The CDK app synthesised once per test process: the infrastructure tests assert on it, and the
    end-to-end tests take the validator's task environment from it. Imported here, not at the top:
    aws_cdk starts a node process, which a run of the fast unit tests alone should not pay for."""
    from tests.infra.conftest import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"))
