"""One `inventory serve` per home: the lock it holds, and how it goes when the process ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from local.serve import LOCK_FILE, HomeServed, ServeLock
from tests.conftest import ROOT


def test_a_second_lock_on_a_served_home_is_refused_naming_the_holder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # GIVEN a home held by a serve
    first = ServeLock.acquire(home)
    # WHEN another serve tries to take it
    with pytest.raises(HomeServed) as info:
        ServeLock.acquire(home)
    # THEN it is refused in one sentence naming the home and the holder's pid
    assert str(info.value) == f"{home} is already served by another `inventory serve` (pid {os.getpid()})"
    # AND once the first lets go, the home can be served again
    first.release()
    ServeLock.acquire(home).release()


def test_the_lock_of_a_killed_serve_is_not_stale(tmp_path: Path) -> None:
    home = tmp_path / "home"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from local.serve import ServeLock; ServeLock.acquire(pathlib.Path(sys.argv[1]));"
            " print('held', flush=True); sys.stdin.read()",
            str(home),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # GIVEN another process serving the home
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(HomeServed, match=f"pid {holder.pid}"):
            ServeLock.acquire(home)
    finally:
        # WHEN it dies without a chance to clean up
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # THEN its lock file is still there, but the home can be served at once
    assert (home / LOCK_FILE).read_text() == f"{holder.pid}\n"
    lock = ServeLock.acquire(home)
    assert (home / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    lock.release()
