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
test: install-test
	@$(VENV)/bin/ruff check portal tests bench wsgi.py
	@$(PY) -m pytest

lint: install-test
	@$(VENV)/bin/ruff check portal tests bench wsgi.py

clean-instance:
	rm -rf instance
