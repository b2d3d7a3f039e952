"""The client package's import rule (orchestrator/client/__init__.py): a client module reaches
the server only through the public API, so it imports nothing from api/controller/runner/
storage/app. Only `local_server` may import `orchestrator.app`. Checked on the source (every
import, also those inside functions) and at run time (what importing the CLI loads)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import orchestrator.client

CLIENT_DIR = Path(orchestrator.client.__file__).parent
ALLOWED = ("orchestrator.client", "orchestrator.config", "orchestrator.credentials",
           "orchestrator.status")
SERVER_ONLY = {"local_server": ("orchestrator.app",),
               # `smlocal images` lists the server's stand-in table: pure modules, no server.
               "images_commands": ("orchestrator.images", "orchestrator.builtin_algorithms",
                                   "orchestrator.aws_image_registries")}
SERVER_PACKAGES = ("orchestrator.api", "orchestrator.controller", "orchestrator.runner",
                   "orchestrator.storage", "orchestrator.app")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file (relative imports resolved)."""
    package = "orchestrator.client"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            out.add(module)
            # `from orchestrator.client import tune` imports the submodule `tune`
            out.update(f"{module}.{alias.name}" for alias in node.names
                       if module == package)
    return out


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def client_modules() -> dict[str, Path]:
    found = {p.stem: p for p in sorted(CLIENT_DIR.glob("*.py"))}
    assert {"cli", "local_server", "logs", "progress", "demo"} <= set(found)
    return found


def test_client_modules_import_only_the_public_api() -> None:
    for stem, path in client_modules().items():
        allowed = ALLOWED + SERVER_ONLY.get(stem, ())
        bad = sorted(m for m in imported_modules(path)
                     if within(m, ("orchestrator",)) and not within(m, allowed))
        assert not bad, f"{path.name} imports {bad}; a client uses only the public API"


def test_only_local_server_imports_the_app() -> None:
    importers = sorted(stem for stem, path in client_modules().items()
                       if any(within(m, SERVER_PACKAGES) for m in imported_modules(path)))
    assert importers == ["local_server"]


def test_client_modules_import_each_other_without_cycles() -> None:
    modules = client_modules()
    graph = {stem: {m.rsplit(".", 1)[-1] for m in imported_modules(path)
                    if m.startswith("orchestrator.client.")} & set(modules)
             for stem, path in modules.items()}
    done: set[str] = set()

    def visit(stem: str, trail: tuple[str, ...]) -> None:
        assert stem not in trail, f"import cycle: {' -> '.join((*trail, stem))}"
        if stem in done:
            return
        for dep in graph[stem]:
            visit(dep, (*trail, stem))
        done.add(stem)

    for stem in graph:
        visit(stem, ())


def test_the_command_line_loads_no_server_code() -> None:
    """Importing the CLI and parsing a client command loads nothing of the server (it is only
    imported when `serve` runs or no server answers)."""
    code = (
        "import sys\n"
        "from orchestrator.client import cli, demo, logs, progress, tune  # noqa: F401\n"
        "cli.build_parser().parse_args(['logs', 'x', '--follow'])\n"
        f"print(sorted(m for m in sys.modules if m.startswith({SERVER_PACKAGES!r})))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.strip() == "[]", run.stdout
