# The virtual environment lives in .venv; every target creates it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: build install run procfile test test-unit test-integration test-e2e lint db-migrate get/flags \
	flags docker-build clean

# testkit/ (shared by tests and benchmarks) is a distribution of its own, so that
# it is importable everywhere in the venv yet never part of the service's wheel.
$(BIN)/scheduler: pyproject.toml testkit/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]' -e ./testkit
	@touch $@

install: $(BIN)/scheduler

build: install ## install the project; the container image is `make docker-build`

docker-build:
	docker build -t scheduler .

run: install ## everything in one process; embedded PostgreSQL unless SCHEDULER_DB_HOST is set
	$(BIN)/scheduler dev

procfile: install ## web, tick and worker as separate processes (needs PostgreSQL and RabbitMQ)
	$(BIN)/scheduler migrate
	$(BIN)/honcho start

test: install ## every tier
	$(BIN)/python -m pytest -q

test-unit: install ## pure logic, Falcon's TestClient, Dramatiq's StubBroker: seconds, no services
	$(BIN)/python -m pytest -q tests/unit

test-integration: install ## the claim protocol, migrations, the API and the worker on real PostgreSQL
	$(BIN)/python -m pytest -q tests/integration

test-e2e: install ## real web/tick/worker processes over RabbitMQ, calling a local HTTP target
	$(BIN)/python -m pytest -q -m e2e tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

db-migrate: install
	$(BIN)/scheduler migrate

get/flags flags: install
	$(BIN)/scheduler flags

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
