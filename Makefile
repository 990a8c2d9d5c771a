# EvoSync — the commands a newcomer needs. `make run` and `make test` do all the set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Worker processes for `make test` (pytest-xdist). Much of the suite waits on the emulators' 3 requests/s limit, so
# three workers pay off even on two cores; TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 3

.PHONY: run test lint format e2e soak bench venv migrate clean help translations

help:
	@echo "make run    - set up and start web + worker + scheduler with the sandbox demo"
	@echo "make test   - the whole test suite with coverage"
	@echo "make lint   - ruff and the import contracts (import-linter, pyproject.toml)"
	@echo "make e2e    - browser tests only (Playwright + Debian's chromium)"
	@echo "make soak   - slow reliability tests"
	@echo "make bench  - benchmarks, writes bench/RESULTS.md"
	@echo "make translations - extract UI strings and update the .po catalogs (then translate the new ones)"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/flask --app evosync db upgrade

run: $(STAMP)
	$(BIN)/python -m evosync.devrun

test: $(STAMP)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS) --dist worksteal --cov --cov-report=term:skip-covered -q $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/pytest -m e2e -q $(PYTEST_ARGS)

soak: $(STAMP)
	$(BIN)/pytest -m slow -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check evosync tests bench deploy worker.py scheduler.py wsgi.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff format --check evosync tests bench deploy worker.py scheduler.py wsgi.py

format: $(STAMP)
	$(BIN)/ruff format evosync tests bench deploy worker.py scheduler.py wsgi.py
	$(BIN)/ruff check --fix evosync tests bench deploy worker.py scheduler.py wsgi.py

# Catalogs: extract every _()/_l() string, merge into evosync/translations/*/LC_MESSAGES/messages.po.
# The app compiles the .po files itself at start-up (evosync/i18n.py); tests/i18n fails while a string is untranslated.
POT := evosync/translations/messages.pot
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --add-location=file --sort-by-file -o $(POT) .
	$(BIN)/pybabel -q update -i $(POT) -d evosync/translations -D messages --ignore-obsolete --ignore-pot-creation-date
	@rm -f $(POT)
	@echo "Now translate the empty and fuzzy entries in evosync/translations/*/LC_MESSAGES/messages.po"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .coverage htmlcov
