"""Token, Origin and CORS checks, and bad input that must never cause a 500."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.test_server_harness import TOKEN, Harness, running_server
from websockets.exceptions import InvalidStatus

from valet.server import ServerSettings, create_app, load_or_create_token

FOREIGN = "http://127.0.0.1:1"  # another local port: same site, different origin

API_ROUTES: list[tuple[str, str]] = [
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks"),
    ("GET", "/api/tasks/abc"),
    ("POST", "/api/tasks/abc/cancel"),
    ("POST", "/api/tasks/abc/messages"),
    ("GET", "/api/tasks/abc/messages"),
    ("GET", "/api/requests"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/abc"),
    ("GET", "/api/runs/abc/download"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/sources"),
    ("POST", "/api/sources"),
    ("POST", "/api/sources/abc/test"),
    ("DELETE", "/api/sources/abc"),
    ("GET", "/"),
    ("GET", "/tasks/abc"),
    ("POST", "/ui/tasks"),
    ("GET", "/sources"),
    ("POST", "/ui/sources"),
]


def _no_cors(response: httpx.Response) -> None:
    assert not any(h.lower().startswith("access-control-") for h in response.headers)


async def test_token_file_is_created_private_and_reused(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    path = tmp_path / "server-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(token) >= 32 and load_or_create_token(tmp_path) == token
    create_app(ServerSettings(home=tmp_path))  # a server started without a token uses it
    assert path.read_text().strip() == token


async def test_every_route_needs_the_token(home: Path) -> None:
    async with running_server(home) as srv:
        async with srv.anonymous() as anonymous:
            for method, path in API_ROUTES:
                for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
                    response = await anonymous.request(method, path, headers=headers)
                    assert response.status_code == 401, (method, path, response.text)
                    _no_cors(response)
                    if path.startswith("/api"):
                        assert response.json()["error"] == "unauthorized"
            wrong = await anonymous.get("/api/tasks", params={"token": "nope-nope-nope-nope"})
            assert wrong.status_code == 401
            static = await anonymous.get("/static/htmx.min.js")
            assert static.status_code == 200 and "htmx" in static.text
        for path in ("/api/events", "/api/tasks/abc/events"):
            for token in (None, "wrong-token-wrong-token"):
                with pytest.raises(InvalidStatus) as refused:
                    async with srv.ws(path, token=token):
                        pass
                assert refused.value.response.status_code == 401  # the refusal's own status


async def test_a_link_is_spent_once_for_a_session_cookie_that_is_not_the_token(
    home: Path,
) -> None:
    async with running_server(home) as srv, srv.anonymous() as browser:
        link = srv.sign_in_link()
        secret = link.split("token=", 1)[1]
        first = await browser.get("/", params={"token": secret, "x": "1"})
        assert first.status_code == 303 and first.headers["location"] == "/?x=1"
        cookie = first.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert TOKEN not in cookie and secret not in cookie  # a session of its own
        page = await browser.get("/")  # the cookie alone now signs it in
        assert page.status_code == 200 and "What should valet do?" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert (await browser.get("/api/tasks")).status_code == 200
        again = await browser.get(link)  # signed in already: the spent link only redirects
        assert again.status_code == 303 and "set-cookie" not in again.headers
        async with srv.anonymous() as other:
            spent = await other.get(link)
            assert spent.status_code == 401 and "already used" in spent.text
            assert "set-cookie" not in spent.headers
            for query in ({"token": TOKEN}, {"token": secret}):  # never the install token
                assert (await other.get("/", params=query)).status_code == 401
                assert (await other.get("/api/tasks", params=query)).status_code == 401
            bearer = await other.get("/api/tasks", headers={"Authorization": f"Bearer {TOKEN}"})
            assert bearer.status_code == 200 and "set-cookie" not in bearer.headers


async def test_foreign_origin_cannot_change_state_or_open_sockets(home: Path) -> None:
    async with running_server(home) as srv:
        for method, path in API_ROUTES:
            if method not in ("POST", "DELETE"):
                continue
            for headers in ({"Origin": FOREIGN}, {"Sec-Fetch-Site": "cross-site"}):
                body = {"task": "x"} if method == "POST" else None
                response = await srv.client.request(method, path, json=body, headers=headers)
                assert response.status_code == 403, (path, response.text)
                _no_cors(response)
        own = await srv.client.post(
            "/api/tasks/abc/cancel", headers={"Origin": srv.origin}
        )  # allowed through, then not found
        assert own.status_code == 404
        for path in ("/api/events", "/api/tasks/abc/events"):
            with pytest.raises(InvalidStatus) as refused:
                async with srv.ws(path, origin=FOREIGN):
                    pass
            assert refused.value.response.status_code == 403
        async with srv.ws("/api/events", origin=srv.origin):
            pass
        rebinding = await srv.client.get("/api/tasks", headers={"Host": "evil.example:80"})
        assert rebinding.status_code == 400


async def test_no_response_allows_cross_origin_reads(home: Path) -> None:
    async with running_server(home) as srv:
        headers = {
            "Origin": FOREIGN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        for method, path in [*API_ROUTES, ("OPTIONS", "/api/tasks"), ("OPTIONS", "/")]:
            response = await srv.client.request(method, path, headers=headers)
            assert response.status_code < 500
            _no_cors(response)


GARBAGE_BODIES: list[dict[str, Any]] = [
    {"content": b"not json"},
    {"content": b"\xff\xfe\x00garbage"},
    {"json": []},
    {"json": None},
    {"json": "a string"},
    {"json": {"task": ""}},
    {"json": {"task": "   "}},
    {"json": {"task": 12}},
    {"json": {"task": "x", "start_url": "javascript:alert(1)"}},
    {"json": {"task": "x", "start_url": "ftp://x"}},
    {"json": {"task": "x", "max_steps": -1}},
    {"json": {"task": "x", "max_steps": 10**12}},
    {"json": {"task": "x", "max_steps": "many"}},
    {"json": {"task": "x", "surprise": True}},
    {"json": {"task": "x" * 30_000}},
    {"json": {"text": None}},
    {"json": {"text": "x" * 5000}},
    {"data": {"task": "", "start_url": "nope"}},
    {"files": {"task": ("a.txt", b"\x00\x01")}},
]
ODD_IDS = ["..", "%2e%2e", "*", "**", "***", "[", "a" * 300, "ü", "%00", "last%20", "-x", " "]


async def test_bad_input_gets_a_clear_4xx_never_a_500(home: Path) -> None:
    async with running_server(home) as srv:
        await _probe(srv)


async def _probe(srv: Harness) -> None:
    templates = [(m, p) for m, p in API_ROUTES if "abc" in p]
    for method, path in API_ROUTES:
        for body in GARBAGE_BODIES if method == "POST" else [{}]:
            response = await srv.client.request(method, path, **body)
            assert response.status_code < 500, (method, path, body, response.text)
            if path.startswith("/api") and response.status_code >= 400:
                assert set(response.json()) == {"error", "detail"}, response.text
    for method, path in templates:
        for odd in ODD_IDS:
            response = await srv.client.request(method, path.replace("abc", odd))
            assert response.status_code < 500, (method, path, odd, response.text)

    for query in ("status=bogus", "status=", "limit=0", "limit=x", "pending=maybe"):
        for path in ("/api/tasks", "/api/runs", "/api/tasks/abc/messages"):
            response = await srv.client.get(f"{path}?{query}")
            assert response.status_code < 500, (path, query, response.text)
    invalid = await srv.client.post("/api/tasks", json={"task": ""})
    assert invalid.status_code == 422 and invalid.json()["error"] == "invalid_request"
    assert invalid.json()["detail"][0]["loc"] == ["body", "task"]
    missing = await srv.client.get("/api/tasks/nope")
    assert missing.status_code == 404 and missing.json() == {
        "error": "not_found",
        "detail": "no task 'nope'",
    }
    wrong_method = await srv.client.delete("/api/tasks")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
