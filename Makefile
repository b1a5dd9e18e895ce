# scaiflow-box: `make run` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs the package alone (what running needs); the test, lint, contract and
# bench targets add the dev extras. A dev install is also a run install.
RUN_STAMP := $(VENV)/.installed-run-stamp
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= ./scaiflow-data
# pytest-xdist processes for `make test`; the CI machines have 2 cores
TEST_WORKERS ?= 2
# `make binary` builds from its own venv holding only the runtime dependencies and PyInstaller:
# the analysis follows optional imports of whatever is installed, so the dev tools must not be.
BUILD_VENV := .venv-build
BUILD_STAMP := $(BUILD_VENV)/.installed-stamp
BINARY := dist/scaiflow-box-linux-$(shell uname -m)

# The OpenID Connect provider the interop tests run (tests/interop/oidc: npm, test-only),
# installed from its lockfile; reinstalled only when the lockfile changes.
INTEROP := tests/interop/oidc
INTEROP_STAMP := $(INTEROP)/node_modules/.installed-stamp
# The canvas's TypeScript toolchain (openapi-typescript, openapi-fetch, typescript) that the
# contract tests generate a client with (tests/contract/ts: npm, test-only), likewise.
TS_CLIENT := tests/contract/ts
TS_CLIENT_STAMP := $(TS_CLIENT)/node_modules/.installed-stamp

# The real Yjs client the live-editing tests drive (tests/collab/js: yjs, y-websocket, ws;
# npm, test-only), installed the same way.
COLLAB := tests/collab/js
COLLAB_STAMP := $(COLLAB)/node_modules/.installed-stamp

.PHONY: run test test-galera contract lint bench clean init interop-deps ts-client-deps collab-deps binary \
	smoke

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

$(INTEROP_STAMP): $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(INTEROP) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && \
		touch node_modules/.installed-stamp; \
	else \
		echo "npm not found: the OpenID Connect interop tests will be skipped (apt-get install nodejs npm)"; \
	fi

interop-deps: $(INTEROP_STAMP)

$(TS_CLIENT_STAMP): $(TS_CLIENT)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(TS_CLIENT) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && \
		touch node_modules/.installed-stamp; \
	else \
		echo "npm not found: the TypeScript client test will be skipped (apt-get install nodejs npm)"; \
	fi

ts-client-deps: $(TS_CLIENT_STAMP)

$(COLLAB_STAMP): $(COLLAB)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(COLLAB) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && \
		touch node_modules/.installed-stamp; \
	else \
		echo "npm not found: the live-editing tests with the real Yjs client will be skipped (apt-get install nodejs npm)"; \
	fi

collab-deps: $(COLLAB_STAMP)

init: $(RUN_STAMP)
	@SCAIFLOW_DATA_DIR=$(DATA_DIR) $(BIN)/scaiflow-box init

run: init
	@echo ""
	@echo "scaiflow-box is starting on http://127.0.0.1:$${SCAIFLOW_API_PORT:-8001} (data: $(DATA_DIR))"
	@echo "Get an operator token (in another terminal):"
	@echo "  TOKEN=\$$(SCAIFLOW_DATA_DIR=$(DATA_DIR) $(BIN)/scaiflow-box token mint --sub usr_operator --tenant tnt_local)"
	@echo "  curl -H \"Authorization: Bearer \$$TOKEN\" http://127.0.0.1:$${SCAIFLOW_API_PORT:-8001}/api/v1/me"
	@echo ""
	@SCAIFLOW_DATA_DIR=$(DATA_DIR) exec $(BIN)/scaiflow-box serve

# Every test that asks for the backend runs a second time on MariaDB (`--db=mariadb`: a private
# mariadbd per worker, a new database per test; skipped without Debian's mariadb-server, except
# on CI); the others are deselected there, as they would run the same. docs/scale-out.md lists
# what is skipped there and why, and the time it takes (tests/tui adds about 1.5 minutes).
# The first pass runs tests/scaleout too: its site of three processes on one MariaDB database
# behind HAProxy (tests/scaleout/conftest.py) uses the server whatever --db says. The contract
# tests come first: the schemathesis run, the longest test, then overlaps the rest.
MARIADB_TEST_DIRS := tests/contract tests/store tests/services tests/api tests/collab tests/http \
	tests/interop tests/tui

test: $(STAMP) $(INTEROP_STAMP) $(TS_CLIENT_STAMP) $(COLLAB_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) -m "not galera"
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --db=mariadb $(MARIADB_TEST_DIRS)
	@$(MAKE) --no-print-directory test-galera

# The Galera tests (tests/galera, marked `galera` and `slow`): a three-node MariaDB Galera
# cluster of their own (Debian's galera-4, mariadb-server, rsync) and one appliance process per
# node; skipped with the reason when those are missing, except on CI. About a minute here (the
# cluster starts in ~12 s), so part of `make test`; run apart from the main suite, in one
# process, so that their three servers and three appliances do not compete with its timed
# tests, and with -s for the figures they print (docs/scale-out.md, phase 4).
test-galera: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -s -m galera tests/galera

# The contract tests (tests/contract, also part of `make test`) with far more generated cases.
CONTRACT_EXAMPLES ?= 1000
contract: $(STAMP) $(TS_CLIENT_STAMP)
	SCAIFLOW_CONTRACT_EXAMPLES=$(CONTRACT_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider -s tests/contract

lint: $(STAMP)
	$(BIN)/ruff check scaiflow_box tui tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

$(BUILD_STAMP): pyproject.toml
	@test -x $(BUILD_VENV)/bin/python || $(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BUILD_VENV)/bin/python -m pip install --quiet -e '.[build]'
	@touch $(BUILD_STAMP)

# The one-file executable: dist/scaiflow-box-linux-<arch> (scaiflow.spec, packaging/).
binary: $(BUILD_STAMP)
	$(BUILD_VENV)/bin/python packaging/build.py

# The frozen binary, end to end, in a clean environment (packaging/smoke_test.sh).
smoke: binary
	packaging/smoke_test.sh $(BINARY)

clean:
	rm -rf $(VENV) $(BUILD_VENV) build dist .mypy_cache .ruff_cache $(INTEROP)/node_modules \
		$(TS_CLIENT)/node_modules $(COLLAB)/node_modules
