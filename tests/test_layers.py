"""Imports point down the layers without cycles; chromadb, openai and gradio stay in their one module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "errors": 0,
    "schema": 0,
    "config": 0,
    "prompts": 0,
    "terms": 0,
    "lexicon": 0,
    "holiday": 0,
    "sentences": 0,
    "corpus": 1,
    "formats": 1,
    "dates": 1,
    "embedding": 1,
    "citations": 1,
    "places": 1,
    "questions": 1,
    "hops": 1,
    "initials": 1,
    "values": 1,
    "index": 2,  # the package: its modules may import each other, and only below layer 2
    "index.encoding_process": 2,
    "index.keywords": 2,
    "index.plan": 2,
    "index.prune": 2,
    "index.readers": 2,
    "index.records": 2,
    "index.rowstore": 2,
    "index.snapshot": 2,
    "index.state": 2,
    "index.store": 2,
    "index.writing": 2,
    "retrieve": 2,
    "cluster": 2,  # the Ray ingest: imported by Engine.ingest(ray=True) alone
    "abstain": 3,
    "extractive": 3,
    "joining": 3,
    "llm": 3,
    "llm_server": 3,
    "verify": 3,
    "engine": 4,
    "cli": 5,
    "llamaindex": 5,  # the LlamaIndex adapter: beside the CLI, imported by no one in rag/
}
CONFINED = {
    "chromadb": {"rag/index/store.py"},
    "openai": {"rag/llm.py"},
    "gradio": {"ui/app.py"},
    "ray": {"rag/cluster.py"},  # the `cluster` extra
    # The adapter; the file readers (inside functions, for a .pdf/.docx/.epub only); the bench's peer
    # and the eval's cross-check.
    "llama_index": {"rag/llamaindex.py", "rag/formats.py", "eval/peer.py", "eval/llamaindex_check.py"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _rag_modules() -> dict[str, Path]:
    """Every module under rag/ by its name there ("index.store"; a package by its own name)."""
    modules = {}
    for path in sorted((ROOT / "rag").rglob("*.py")):
        parts = path.relative_to(ROOT / "rag").with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and parts[-1] != "__main__":
            modules[".".join(parts)] = path
    return modules


def _layer(name: str) -> int:
    """The layer of a module or name below rag ("index.plan", "index.Record"): its own or its package's."""
    parts = name.split(".")
    while parts and ".".join(parts) not in LAYERS:
        parts.pop()
    return LAYERS[".".join(parts)] if parts else 0


def _import_time_imports(path: Path) -> list[str]:
    """What importing `path` imports: not inside functions, nor under TYPE_CHECKING; `from a import b`
    as "a.b" (a module, or a name of a)."""
    names: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                names.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.extend(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If) and not (
                isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
            ):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    visit(block)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


def test_every_rag_module_has_a_layer() -> None:
    modules = set(_rag_modules())
    assert modules <= set(LAYERS), f"add to LAYERS: {modules - set(LAYERS)}"


def test_rag_imports_point_down() -> None:
    bad = []
    for module, path in _rag_modules().items():
        mine = LAYERS[module]
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] in {"ui", "eval"} and mine < 5:
                bad.append(f"{module} (L{mine}) imports {name} (L5)")
            if parts[0] == "rag" and len(parts) > 1 and _layer(name.removeprefix("rag.")) > mine:
                bad.append(f"{module} (L{mine}) imports {name} (L{_layer(name.removeprefix('rag.'))})")
    assert not bad, bad


def test_rag_modules_import_no_cycle() -> None:
    # Import-time edges only: a lazy import inside a function is how a cycle is broken on purpose.
    modules = _rag_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        graph[module] = set()
        for name in _import_time_imports(path):
            parts = name.split(".")[1:] if name.startswith("rag.") else []
            while parts and ".".join(parts) not in modules:
                parts.pop()  # a name imported from a module: the edge is to that module
            if parts and ".".join(parts) != module:
                graph[module].add(".".join(parts))
    cycles: list[str] = []
    done: set[str] = set()
    path_: list[str] = []

    def visit(module: str) -> None:
        path_.append(module)
        for dep in sorted(graph[module]):
            if dep in path_:
                cycles.append(" -> ".join([*path_[path_.index(dep) :], dep]))
            elif dep not in done:
                visit(dep)
        path_.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    assert not cycles, cycles


def test_l0_modules_import_only_errors() -> None:
    for module, path in _rag_modules().items():
        if LAYERS[module] == 0:
            rag_imports = {n.split(".")[1] for n in _imports(path) if n.startswith("rag.")}
            assert rag_imports <= {"errors", "schema", "terms", "lexicon"}, (path.name, rag_imports)


def test_third_party_clients_stay_in_their_module() -> None:
    for package, allowed in CONFINED.items():
        for path in [*ROOT.glob("rag/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("eval/*.py")]:
            rel = path.relative_to(ROOT).as_posix()
            if any(n.split(".")[0] == package for n in _imports(path)):
                assert rel in allowed, f"{rel} imports {package}; only {sorted(allowed)} may"


def test_ui_and_eval_use_only_the_public_api() -> None:
    public = {"rag", "rag.engine", "rag.schema", "rag.errors", "rag.citations", "rag.config"}
    # What a tool needs from inside, named: the knobs the tuner turns, and what the bench times
    # beside the pipeline (the corpus reader, the raw encoder, the write step's size).
    inside = {
        "tune.py": {"rag.extractive", "rag.retrieve"},
        "bench.py": {"rag.corpus"},
        "bench_workers.py": {"rag.corpus", "rag.embedding", "rag.index.writing", "rag.sentences"},
        "llamaindex_check.py": {"rag.llamaindex"},  # the adapter, public but outside `import rag`
    }
    for path in [*ROOT.glob("ui/*.py"), *ROOT.glob("eval/*.py")]:
        allowed = public | inside.get(path.name, set())
        for name in _imports(path):
            if name.startswith("rag"):
                assert name in allowed, f"{path.name} imports {name}"


def test_the_tools_never_import_the_cli() -> None:
    # rag.cli hands `rag eval` and `rag bench` their argv; the tools must not call back into it.
    for path in [*ROOT.glob("ui/*.py"), *ROOT.glob("eval/*.py")]:
        assert not any(n == "rag.cli" or n.startswith("rag.cli.") for n in _imports(path)), path.name


def test_llama_index_stays_off_the_default_path() -> None:
    # Importing llama_index costs over a second: nothing `import rag`, the CLI or the page loads
    # may import it or the adapter at import time; the file readers load it for such a file only.
    for path in [*ROOT.glob("rag/**/*.py"), *ROOT.glob("ui/*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel == "rag/llamaindex.py":
            continue
        assert "rag.llamaindex" not in _imports(path), f"{rel} imports rag.llamaindex"
        eager = [n for n in _import_time_imports(path) if n.split(".")[0] == "llama_index"]
        assert not eager, f"{rel} imports {eager} when imported"
