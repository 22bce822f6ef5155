"""Helpers shared by the tests of serve's inbox (tests/unit/test_serve_inbox.py, tests/e2e/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

from local.serve import Server


def drop_refused_twice(server: Server, texts: tuple[str, ...] = ("first", "second")) -> Path:
    """Drop a file no key can be given for, once per text, under the same name; each is refused and set
    aside when the inbox has seen it settle. Returns the path it was dropped at."""
    stray = server.inbox / "elsewhere" / "notes.txt"
    stray.parent.mkdir(parents=True)
    for text in texts:
        stray.write_text(text)
        server.scan_inbox()  # seen
        server.scan_inbox()  # quiet: taken, refused and set aside
        assert not stray.exists()
    return stray
