# Two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test install install-test lint clean-instance

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip
	@$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	@$(PIP) install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Initialise ./instance (SQLite, secrets, dev keys, first reviewer) and serve both apps on loopback.
run: install
	@$(VENV)/bin/portal init --dev
	@$(VENV)/bin/portal serve-dev

# The whole suite on SQLite; also on PostgreSQL when PORTAL_TEST_DATABASE_URL is set.
# In parallel (pytest-xdist, one worker per core; each worker gets its own PostgreSQL database and
# Redis number, see tests/conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-test
	@$(VENV)/bin/ruff check portal tests bench wsgi.py
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install-test
	@$(VENV)/bin/ruff check portal tests bench wsgi.py

clean-instance:
	rm -rf instance
