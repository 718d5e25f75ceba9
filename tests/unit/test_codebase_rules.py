"""The house rules a newcomer relies on, checked: small modules and functions, and services
that import only the project's shared/ and themselves."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted(p for d in ("services", "shared", "bench") for p in (ROOT / d).rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# These put the services together (the command line, `newsflow run`, evaluation, replay and
# its kin): they may import any service. Every other service imports shared/ and itself.
COMPOSERS = {"cli", "cli_common", "cli_feeds", "cli_history", "supervisor", "evaluation", "replay"}


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _service_of(path: Path) -> str:
    parts = path.relative_to(ROOT / "services").parts
    return parts[0] if len(parts) > 1 else path.stem


def test_the_code_is_found():
    assert len(CODE) > 80 and any(p.name == "topology.py" for p in CODE)


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_function_sizes(path):
    text = path.read_text()
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path.name}: over {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


def test_services_import_shared_and_themselves_and_shared_imports_no_service():
    wrong = []
    for path in CODE:
        relative = path.relative_to(ROOT)
        for name in _imports(ast.parse(path.read_text())):
            if not name.startswith("services."):
                continue
            if relative.parts[0] == "shared":
                wrong.append(f"{relative} imports {name}")
            elif relative.parts[0] == "services":
                own = _service_of(path)
                if own not in COMPOSERS and name.split(".")[1] != own:
                    wrong.append(f"{relative} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_would_see_a_service_reaching_into_another():
    tree = ast.parse("from services.cleaner.clean import split_title\nimport services.sink.store\n")
    assert _imports(tree) == ["services.cleaner.clean", "services.sink.store"]
