"""`valet research "question"` and `valet research-index add`: deep research from the terminal.

The research runs as a task like `valet run`'s (same gateway, limits and run record) with the
research toolset: the one configured in config.toml (`[[connectors]] connector = "research"`),
else one made from the options here. The report is kept with the run's record
(`runs/<run id>/research/report.md` and `.html`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from valet.errors import ConfigError
from valet.research import LocalIndex
from valet.settings import load_config, valet_home

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_SUFFIXES = {".pdf": "pdf", ".txt": "txt", ".md": "md", ".html": "html", ".htm": "html"}


def research(
    question: Annotated[str, typer.Argument(help="What to find out, in plain language.")],
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="local (default), searxng, brave or browser."),
    ] = None,
    searxng_url: Annotated[str | None, typer.Option("--searxng-url")] = None,
    index: Annotated[
        Path | None, typer.Option("--index", help="The local index (valet research-index).")
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="A local or private host sources may be read from."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1)] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Research QUESTION: search, read sources in parallel, note quotes, write a cited report
    whose every citation is checked against its passage."""
    from valet.cli import execute_task, fail, report_outcome, task_spec
    from valet.models import build_model, resolve_model_config
    from valet.research._task import research_brief, research_toolset

    if not question.strip():
        fail("the question is empty")
    if provider not in (None, "local", "searxng", "brave", "browser"):
        fail(f"--provider must be local, searxng, brave or browser, not {provider!r}")
    try:
        config = resolve_model_config(model, config=load_config())
        llm = build_model(config)
    except ConfigError as exc:
        fail(str(exc))
    spec = task_spec(research_brief(question), None, max_steps or 60, False, None, None)
    configured = tuple(t for t in spec.toolsets if t.connector == "research")
    toolsets = research_toolset(
        configured,
        provider=provider,
        searxng_url=searxng_url,
        index=None if index is None else str(index.expanduser()),
    )
    spec = spec.model_copy(
        update={"toolsets": toolsets, "allow_hosts": frozenset(allow_host or ())}
    )
    result = execute_task(spec, llm, config, json_out)
    report = valet_home() / "runs" / result.run_id / "research" / "report.md"
    if report.is_file():
        (err if json_out else out).print(f"report: {report}", markup=False, soft_wrap=True)
    else:
        err.print("no report was written", markup=False)
    report_outcome(result, json_out)


index_app = typer.Typer(no_args_is_help=True, help="The local research index (SQLite FTS5).")


@index_app.command("add")
def index_add(
    sources: Annotated[list[str], typer.Argument(help="Files, folders or http(s) URLs.")],
    index: Annotated[Path | None, typer.Option("--index")] = None,
    crawl: Annotated[
        int,
        typer.Option("--crawl", min=0, help="Follow links on the URLs' sites, up to N pages."),
    ] = 0,
) -> None:
    """Index documents for offline research: files (PDF, HTML, Markdown, text), folders (all
    such files in them), pages read over HTTP (robots.txt respected), and with `--crawl N`
    the pages their sites link to, up to N in all."""
    where = (index or valet_home() / "research" / "index.db").expanduser()
    store = LocalIndex(where)
    try:
        added, failed = asyncio.run(_index(store, sources, crawl))
    finally:
        store.close()
    for source, why in failed:
        err.print(f"not indexed: {source}: {why}", markup=False, soft_wrap=True)
    out.print(f"indexed {added} document(s) in {where}", markup=False)
    if failed and not added:
        raise typer.Exit(1)


async def _index(
    store: LocalIndex, sources: list[str], most: int
) -> tuple[int, list[tuple[str, str]]]:
    import httpx

    from valet.research import Reader, ReadFailure
    from valet.research._crawl import crawl

    urls = [s for s in sources if s.startswith(("http://", "https://"))]
    added, failed = await asyncio.to_thread(
        _index_files, store, [s for s in sources if s not in urls]
    )
    if urls:
        async with httpx.AsyncClient() as client:
            reader = Reader(client)
            found = await (crawl(reader, urls, most) if most else reader.read_all(urls))
            for result in found:
                if isinstance(result, ReadFailure):
                    failed.append((result.url, result.reason))
                else:
                    store.add(result.document)
                    added += 1
    return added, failed


def _index_files(store: LocalIndex, sources: list[str]) -> tuple[int, list[tuple[str, str]]]:
    from valet.research import ReadFailure
    from valet.research._reader import parse

    added, failed = 0, list[tuple[str, str]]()
    for source in sources:
        path = Path(source).expanduser()
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            kind = _SUFFIXES.get(file.suffix.lower())
            if kind is None or not file.is_file():
                failed.append((str(file), "not a PDF, HTML, Markdown or text file"))
                continue
            document, _ = parse(file.resolve().as_uri(), kind, file.read_bytes())
            if isinstance(document, ReadFailure):
                failed.append((str(file), document.reason))
                continue
            store.add(document)
            added += 1
    return added, failed
