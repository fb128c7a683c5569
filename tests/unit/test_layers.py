"""The layers of docs/design.md, held by reading every module's imports, those inside
functions too (an import hidden in a function breaks a layer just the same)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the top-level modules it may never import
FORBIDDEN = {
    "app": {"api", "actors", "falcon", "dramatiq"},
    "actors": {"api"},
    "api": {"actors"},
}
# The composition root wires the layers together.
EXEMPT = ("app/commands/",)


def imported(source: str) -> set[str]:
    """Every module `source` imports, at any depth of its code, as written."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def breaks(path: str, source: str) -> list[str]:
    """The imports of the module at `path` (relative to the repository) that break its
    package's layer rule."""
    package = path.split("/", 1)[0]
    if path.startswith(EXEMPT) or package not in FORBIDDEN:
        return []
    return sorted(name for name in imported(source) if name.split(".")[0] in FORBIDDEN[package])


def modules() -> list[Path]:
    return sorted(path for package in FORBIDDEN for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_module_keeps_to_its_layer(path):
    relative = path.relative_to(ROOT).as_posix()
    assert breaks(relative, path.read_text()) == []


def test_every_layer_has_modules_to_check():
    checked = {path.relative_to(ROOT).parts[0] for path in modules()}
    assert checked == set(FORBIDDEN)


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("app/jobs/store.py", "import actors\n", ["actors"]),
        ("app/report.py", "def f():\n    from api.server import web_server\n", ["api.server"]),
        ("app/claims/tick.py", "import dramatiq.brokers.stub as stub\n", ["dramatiq.brokers.stub"]),
        ("app/x.py", "from falcon import testing\n", ["falcon"]),
        ("actors/run.py", "class A:\n    def f(self):\n        import api\n", ["api"]),
        ("api/jobs.py", "from actors.messages import QUEUE\n", ["actors.messages"]),
    ],
)
def test_a_forbidden_import_is_found_wherever_it_hides(path, source, expected):
    assert breaks(path, source) == expected


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("app/commands/dev.py", "import dramatiq\nfrom api.server import web_server\n"),
        ("actors/run.py", "import dramatiq\nfrom app.claims import Claim\n"),
        ("api/jobs.py", "import falcon\nfrom app.jobs import store\n"),
        ("app/claims/tick.py", "import apis_of_mine\nimport actorsx\n"),
    ],
)
def test_allowed_imports_pass(path, source):
    assert breaks(path, source) == []
