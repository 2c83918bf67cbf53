"""The layout's one-way rules: the core imports no channel; nothing about a provider in the core."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.settings import PROJECT_DIR

CORE = ("bot", "nlu", "actions")
PROVIDERS = ("telegram", "twilio", "android_sms_gateway", "channels")


def _imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((PROJECT_DIR / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(str(path.relative_to(PROJECT_DIR)), name) for name in names]
    return found


def test_the_core_imports_no_channel_and_no_provider_library() -> None:
    offending = [(path, name) for folder in CORE for path, name in _imports(folder)
                 if name.split(".")[0] in PROVIDERS]
    assert offending == []


def test_the_channels_are_found_through_the_registry() -> None:
    from bot.plugins import installed

    registries = installed()
    assert registries and all(hasattr(r, "plugins") and hasattr(r, "add_commands") for r in registries)
    assert Path(registries[0].__file__ or "").parent.name == "channels"  # type: ignore[attr-defined]
