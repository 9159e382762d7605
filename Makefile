# Two commands set everything up on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo apt venv lint typecheck contracts pytest bench clean migration

apt:
	@bash .ci/install-apt

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: apt $(STAMP)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

contracts: venv
	$(BIN)/lint-imports

# The end-to-end tests (real softphone agent, patient simulator, Vosk, Chromium) run in a pytest process of
# their own: Flask-SocketIO servers and Playwright keep process-wide state that other suites change (RECIPES).
pytest: venv
	$(BIN)/pytest --ignore=tests/e2e $(PYTEST_ARGS)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: venv lint typecheck contracts pytest

demo: venv
	$(BIN)/callcenter demo

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var/*.db .pytest_cache .mypy_cache .ruff_cache

# Until the first release the schema is ONE migration, regenerated from the models (see docs/development.md).
migration: venv
	rm -f callcenter/migrations/versions/*.py
	rm -rf .cache/migration && mkdir -p .cache/migration
	CALLCENTER_DATABASE_URL=sqlite:///.cache/migration/m.db $(BIN)/callcenter --log-level WARNING db revision -m "initial schema" --rev-id 0001
	$(BIN)/ruff format -q callcenter/migrations/versions/
