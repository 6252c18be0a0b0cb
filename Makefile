# Two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test install install-test lint clean-instance i18n-extract i18n-update i18n-compile

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip
	@$(PIP) install --quiet -e .
	@$(COMPILE_CATALOGS)
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

# Translations (docs/translation.md). extract: every gettext'd string of the Python code, the
# templates and static/js into portal/translations/messages.pot; update: merge it into each
# language's messages.po (changed English is marked fuzzy, and the tests fail until a translator
# checks it); compile: the .po into the .mo the apps read and the JSON static/i18n/<lang>.json the
# scripts read. `make install` compiles too; the compiled files are committed so that a checkout
# installed with plain `pip install -e .` (docs/operations.md) has them.
PYBABEL := $(VENV)/bin/pybabel
CATALOGS := portal/translations
COMPILE_CATALOGS = $(PYBABEL) compile --domain messages --directory $(CATALOGS) --statistics && $(PY) -m portal.i18n_catalogs

i18n-extract: install
	@$(PYBABEL) extract --mapping-file babel.cfg --keywords _l --keywords lazy_gettext --keywords lazy_ngettext:1,2 \
		--keywords t --keywords N_ --add-comments TRANSLATORS: --sort-by-file --width 120 --project portal \
		--copyright-holder "portal contributors" --output-file $(CATALOGS)/messages.pot .

i18n-update: i18n-extract
	@$(PYBABEL) update --input-file $(CATALOGS)/messages.pot --domain messages --output-dir $(CATALOGS) --width 120

i18n-compile: install
	@$(COMPILE_CATALOGS)
