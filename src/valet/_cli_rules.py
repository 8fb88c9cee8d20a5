"""`valet rules`: the person's limits, written in plain language, compiled to rules, confirmed,
kept in `rules.toml` and enforced on every action of every task.

Exit codes: 0 done, 1 the person did not confirm, 2 an instruction that cannot be compiled, an
unknown rule id or invalid rules (nothing is saved).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valet._rules_file import (
    RulesError,
    load_rules,
    named,
    record_change,
    rules_from_data,
    rules_from_toml,
    rules_to_toml,
    save_rules,
    with_ids,
)
from valet.errors import ConfigError
from valet.policy import (
    Compiled,
    Rule,
    RuleSet,
    compile_instruction,
    compile_with_model,
    explain,
)
from valet.settings import load_config, valet_home

rules_app = typer.Typer(
    help="Your limits: plain-language instructions compiled to rules valet enforces.",
    no_args_is_help=True,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _table(rules: tuple[Rule, ...], *, sources: bool = True) -> Table:
    table = Table("id", "rule", *(("from your words",) if sources else ()), box=None)
    for rule in rules:
        table.add_row(rule.id or "(new)", explain(rule), *((rule.note,) if sources else ()))
    return table


def _saved() -> RuleSet:
    try:
        return load_rules(valet_home())
    except RulesError as exc:
        _fail(f"{exc}\nfix it with `valet rules edit`")


def _with_model(instruction: str, model: str) -> Compiled:
    try:
        from valet.models import build_model, resolve_model_config  # loads pydantic-ai

        llm = build_model(resolve_model_config(model, config=load_config()))
    except ConfigError as exc:
        _fail(str(exc))
    return asyncio.run(compile_with_model([instruction], llm))


@rules_app.command("add")
def add(
    instruction: Annotated[str, typer.Argument(help='e.g. "never spend more than 100 €"')],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Save without asking.")] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Let this model compile what the patterns cannot."),
    ] = None,
) -> None:
    """Compile INSTRUCTION to rules, show them, and save them once you confirm."""
    home = valet_home()
    existing = _saved()
    compiled = compile_instruction(instruction)
    if compiled.uncompiled and model is not None:
        out.print(f"asking {model} to compile it (you confirm the rules it proposes)")
        compiled = _with_model(" ".join(instruction.split()), model)
    if compiled.rules:
        out.print("compiled rules:")
        out.print(_table(compiled.rules, sources=False))
    if compiled.uncompiled:
        for missing in compiled.uncompiled:
            err.print(
                f"[bold red]not compiled:[/] {missing.instruction!r}: {missing.why}", soft_wrap=True
            )
        _fail("nothing saved: rephrase the instruction (or edit rules with `valet rules edit`)")
    if not yes and not typer.confirm("save these rules?", default=False):
        out.print("nothing saved")
        raise typer.Exit(1)
    added = with_ids(existing, compiled.rules)
    save_rules(home, RuleSet(rules=existing.rules + added))
    record_change(
        home,
        "rules.add",
        {"instruction": instruction, "rules": RuleSet(rules=added).as_data()["rules"]},
        f"the person added a limit: {instruction}",
    )
    out.print(f"saved {', '.join(rule.id for rule in added)}")


@rules_app.command("list")
def list_rules() -> None:
    """List your rules with the words they were compiled from."""
    rules = _saved()
    if not rules.rules:
        out.print('no rules yet: try `valet rules add "never spend more than 100 €"`')
        return
    out.print(_table(rules.rules))


@rules_app.command("show")
def show(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print your rules as data (TOML, or JSON with --json)."""
    rules = _saved()
    if json_out:
        out.print_json(rules.to_json())
    else:
        out.print(rules_to_toml(rules), markup=False, end="", soft_wrap=True)


@rules_app.command("remove")
def remove(
    rule_id: Annotated[str, typer.Argument(help="The rule's id (`valet rules list`).")],
) -> None:
    """Remove one rule."""
    home = valet_home()
    rules = _saved()
    gone = [rule for rule in rules.rules if rule.id == rule_id]
    if not gone:
        known = ", ".join(rule.id for rule in rules.rules) or "none"
        _fail(f"no rule has the id {rule_id!r}; ids: {known}")
    save_rules(home, RuleSet(rules=tuple(r for r in rules.rules if r.id != rule_id)))
    record_change(
        home,
        "rules.remove",
        {"id": rule_id, "rules": RuleSet(rules=tuple(gone)).as_data()["rules"]},
        f"the person removed rule {rule_id}",
    )
    out.print(f"removed {rule_id}: {explain(gone[0])}")


@rules_app.command("edit")
def edit(
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Replace the rules with this TOML or JSON file."),
    ] = None,
) -> None:
    """Edit your rules as data in $EDITOR (or replace them with --file); invalid rules are
    refused and nothing is saved."""
    home = valet_home()
    before = _saved()
    after = named(_read(file) if file is not None else _edit_in_editor(before))
    if after == before:
        out.print("no change")
        return
    save_rules(home, after)
    record_change(
        home,
        "rules.edit",
        {"before": before.as_data()["rules"], "after": after.as_data()["rules"]},
        "the person edited their rules",
    )
    out.print(_table(after.rules) if after.rules else "saved: no rules")


def _read(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")
    try:
        if path.suffix.lower() != ".json":
            return rules_from_toml(text, where=str(path))
        try:
            data: object = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesError(f"{path}: not valid JSON: {exc}") from exc
        return rules_from_data(data, where=str(path))
    except RulesError as exc:
        _fail(f"{exc}\nnothing saved")


def _edit_in_editor(rules: RuleSet) -> RuleSet:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        _fail("set $EDITOR (or $VISUAL), or give a file with --file")
    draft = valet_home() / "rules.edit.toml"
    draft.parent.mkdir(parents=True, exist_ok=True)
    draft.write_text(rules_to_toml(rules), encoding="utf-8")
    done = subprocess.run([*shlex.split(editor), str(draft)], check=False)
    if done.returncode != 0:
        _fail(f"the editor exited with {done.returncode}; nothing saved (your draft: {draft})")
    try:
        text = draft.read_text(encoding="utf-8")
        edited = rules_from_toml(text, where=str(draft))
    except (OSError, UnicodeDecodeError, RulesError) as exc:
        _fail(f"{exc}\nnothing saved; fix the draft and run `valet rules edit --file {draft}`")
    draft.unlink(missing_ok=True)
    return edited
