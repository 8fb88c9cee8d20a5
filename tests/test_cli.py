"""The `valet` command: exit codes and messages a person sees."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml
from tests._cli import valet_here

from valet.sites import SiteServer


def valet(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VALET_", "OPENAI_", "ANTHROPIC_"))
    }
    env["VALET_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "valet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def script(tmp_path: Path, steps: list[object]) -> str:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(steps))
    return f"scripted:{path}"


def test_no_model_exits_2_and_lists_the_ways_to_configure_one(home: Path) -> None:
    done = valet(home, "run", "buy a cable")
    assert done.returncode == 2
    assert "no model is configured" in done.stderr
    assert "VALET_MODEL" in done.stderr and "--model" in done.stderr


def test_bad_start_url_exits_2(home: Path, tmp_path: Path) -> None:
    done = valet(
        home,
        "run",
        "x",
        "--model",
        script(tmp_path, [{"done": "ok"}]),
        "--start-url",
        "shop.example",
    )
    assert done.returncode == 2
    assert "not an http(s) URL" in done.stderr


def test_unreachable_cdp_url_exits_2(home: Path, tmp_path: Path) -> None:
    done = valet(
        home,
        "run",
        "x",
        "--model",
        script(tmp_path, [{"done": "ok"}]),
        "--cdp-url",
        "http://127.0.0.1:9",
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot start or reach the browser" in done.stderr
    assert not list((home / "runs").glob("*")), "no record is left for a run that never started"


def test_exit_codes_follow_how_the_run_ended(home: Path, tmp_path: Path, sites: SiteServer) -> None:
    url = sites.url_for("/shop")
    ok = valet(home, "run", "t", "-m", script(tmp_path, [{"done": "found it"}]), "-u", url)
    assert ok.returncode == 0, ok.stderr
    assert "Done: found it" in ok.stdout
    failed = valet(
        home,
        "run",
        "t",
        "-m",
        script(tmp_path, [{"done": {"answer": "no", "success": False}}]),
        "-u",
        url,
    )
    assert failed.returncode == 1
    stopped = valet(
        home,
        "run",
        "t",
        "-m",
        script(tmp_path, [{"scroll": "down"}, {"scroll": "up"}] * 3),
        "-u",
        url,
        "--max-steps",
        "2",
    )
    assert stopped.returncode == 3
    assert "Stopped (max_steps)" in stopped.stdout


def test_runs_list_and_show(home: Path, tmp_path: Path, sites: SiteServer) -> None:
    done = valet(
        home,
        "run",
        "look",
        "-m",
        script(tmp_path, [{"scroll": "down"}, {"done": "seen"}]),
        "-u",
        sites.url_for("/shop"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    header = json.loads(done.stdout)
    assert header["status"] == "succeeded"
    listed = json.loads(valet_here(home, "runs", "list", "--json").stdout)
    assert [r["id"] for r in listed] == [header["id"]]
    shown = json.loads(valet_here(home, "runs", "show", "last", "--json").stdout)
    assert shown["id"] == header["id"] and len(shown["steps"]) == 2
    text = valet_here(home, "runs", "show", header["id"][:12])
    assert text.exit_code == 0 and "scroll" in text.stdout and "Done:" in text.stdout
    missing = valet_here(home, "runs", "show", "nope")
    assert missing.exit_code == 2 and "no run 'nope'" in missing.stderr


def test_workflow_save_and_run_with_a_parameter(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    steps = [
        {
            "type": {
                "role": "searchbox",
                "name": "Search products",
                "text": "USB-C cable",
                "submit": True,
            }
        },
        {"expect": {"url": "q=USB-C"}},
        {"done": "searched"},
    ]
    assert (
        valet(
            home, "run", "search", "-m", script(tmp_path, steps), "-u", sites.url_for("/shop")
        ).returncode
        == 0
    )
    saved = valet_here(home, "workflow", "save", "last", "search")
    assert saved.exit_code == 0, saved.output
    assert "search" in valet_here(home, "workflow", "list").stdout
    replay = valet(
        home,
        "workflow",
        "run",
        "search",
        "--param",
        "search_products=HDMI",
        "-u",
        sites.url_for("/shop"),
        "--json",
    )
    assert replay.returncode == 0, replay.stderr
    shown = json.loads(valet_here(home, "runs", "show", "last", "--json").stdout)
    assert "q=HDMI" in shown["steps"][-1]["url"]
    bad = valet_here(home, "workflow", "run", "search", "--param", "colour=red")
    assert bad.exit_code == 2 and "unknown parameter" in bad.stderr
    missing = valet_here(home, "workflow", "run", "nothing-here")
    assert missing.exit_code == 2 and "no workflow 'nothing-here'" in missing.stderr


def test_audit_verify_and_export(home: Path, tmp_path: Path, sites: SiteServer) -> None:
    assert valet_here(home, "audit", "verify").exit_code == 2, "no log yet"
    done = valet(
        home, "run", "look", "-m", script(tmp_path, [{"done": "ok"}]), "-u", sites.url_for("/shop")
    )
    assert done.returncode == 0, done.stderr
    verified = valet_here(home, "audit", "verify")
    assert verified.exit_code == 0 and verified.stdout.startswith("ok:"), verified.stdout
    exported = tmp_path / "audit.jsonl"
    assert valet_here(home, "audit", "export", str(exported)).exit_code == 0
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    start = records[0]
    assert start["actor"] == "person" and start["tool"] == "goto", start
    with sqlite3.connect(home / "audit.db") as db:
        db.execute("UPDATE records SET actor = 'agent' WHERE seq = (SELECT MIN(seq) FROM records)")
    tampered = valet_here(home, "audit", "verify")
    assert tampered.exit_code == 1 and "problem" in tampered.stderr


def test_valet_run_attaches_the_configured_toolsets_and_refuses_a_broken_config(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    """`[[mcp]]` in config.toml gives every `valet run` that server's tools, through the
    gateway; an invalid `[grants]` stops the run before anything starts."""
    time_server = str(Path(sys.executable).with_name("mcp-server-time"))
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[[mcp]]\nname = "time"\ncommand = ["{time_server}"]\n', encoding="utf-8"
    )
    steps: list[object] = [
        {"raw": {"tool": "time_get_current_time", "args": {"timezone": "Europe/Paris"}}},
        {"expect": {"prompt": "Europe/Paris"}},
        {"done": "it is daytime somewhere"},
    ]
    done = valet(
        home,
        "run",
        "what time is it in Paris",
        "-m",
        script(tmp_path, steps),
        "-u",
        sites.url_for("/shop"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    header = json.loads(done.stdout)
    assert "grants time: read" in header["settings"]["scope"]  # read-only unless granted
    (home / "config.toml").write_text('grants = "everything"\n', encoding="utf-8")
    broken = valet(home, "run", "anything", "-m", script(tmp_path, steps))
    assert broken.returncode == 2 and "[grants]" in broken.stderr
