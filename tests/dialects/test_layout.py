"""The shape of the dialect code: translators stay pure, dialects stay apart."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tierbook.api import dialects

DIALECTS = ("omneo", "altcraft", "sessionm", "exchange_solutions")
PURE = (
    "tierbook.api.dialects.omneo.translate",
    "tierbook.api.dialects.altcraft.translate",
    "tierbook.api.dialects.altcraft.wire",
    "tierbook.api.dialects.sessionm.translate",
    "tierbook.api.dialects.exchange_solutions.translate",
    "tierbook.api.dialects.exchange_solutions.tokens",
)


def test_translators_load_no_web_framework_and_no_database() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {PURE!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in ('fastapi', 'starlette', 'sqlalchemy', 'tierbook.adapters')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_dialect_imports_another(dialect: str) -> None:
    package = Path(dialects.__file__).parent / dialect
    others = {f"tierbook.api.dialects.{d}" for d in DIALECTS if d != dialect}
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert not any(name.startswith(o) for o in others), f"{source.name}: {name}"
