"""Imports point down the layers; chromadb, openai and gradio stay in their one module."""

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
    "sentences": 0,
    "corpus": 1,
    "embedding": 1,
    "encoding_process": 1,
    "citations": 1,
    "places": 1,
    "questions": 1,
    "keywords": 1,
    "index": 2,
    "writing": 2,
    "rowstore": 2,
    "retrieve": 2,
    "extractive": 3,
    "llm": 3,
    "llm_server": 3,
    "verify": 3,
    "engine": 4,
    "cli": 5,
}
CONFINED = {"chromadb": {"rag/index.py"}, "openai": {"rag/llm.py"}, "gradio": {"ui/app.py"}}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_every_rag_module_has_a_layer() -> None:
    modules = {p.stem for p in (ROOT / "rag").glob("*.py")} - {"__init__", "__main__"}
    assert modules <= set(LAYERS), f"add to LAYERS: {modules - set(LAYERS)}"


def test_rag_imports_point_down() -> None:
    bad = []
    for path in (ROOT / "rag").glob("*.py"):
        if path.stem in {"__init__", "__main__"}:
            continue
        mine = LAYERS[path.stem]
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] in {"ui", "eval"} and mine < 5:
                bad.append(f"{path.name} (L{mine}) imports {name} (L5)")
            if parts[0] == "rag" and len(parts) > 1 and LAYERS.get(parts[1], 0) > mine:
                bad.append(f"{path.name} (L{mine}) imports rag.{parts[1]} (L{LAYERS[parts[1]]})")
    assert not bad, bad


def test_l0_modules_import_only_errors() -> None:
    for path in (ROOT / "rag").glob("*.py"):
        if path.stem in LAYERS and LAYERS[path.stem] == 0:
            rag_imports = {n.split(".")[1] for n in _imports(path) if n.startswith("rag.")}
            assert rag_imports <= {"errors", "schema", "terms"}, (path.name, rag_imports)


def test_third_party_clients_stay_in_their_module() -> None:
    for package, allowed in CONFINED.items():
        for path in [*ROOT.glob("rag/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("eval/*.py")]:
            rel = path.relative_to(ROOT).as_posix()
            if any(n.split(".")[0] == package for n in _imports(path)):
                assert rel in allowed, f"{rel} imports {package}; only {sorted(allowed)} may"


def test_ui_and_eval_use_only_the_public_api() -> None:
    allowed = {"rag", "rag.engine", "rag.schema", "rag.errors", "rag.citations", "rag.config"}
    for path in [*ROOT.glob("ui/*.py"), *ROOT.glob("eval/*.py")]:
        # tune.py tunes the answerer's own weights, and the bench (bench.py cuts the slice,
        # bench_workers.py times the raw encoder beside the pipeline) reads the corpus and the
        # encoder directly: they reach inside on purpose.
        if path.name in ("tune.py", "bench.py", "bench_workers.py"):
            continue
        for name in _imports(path):
            if name.startswith("rag"):
                assert name in allowed, f"{path.name} imports {name}"
