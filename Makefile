# The virtual environment lives in .venv; every target creates it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: build install run procfile test lint db-migrate get/flags flags docker-build clean

$(BIN)/scheduler: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
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

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

db-migrate: install
	$(BIN)/scheduler migrate

get/flags flags: install
	$(BIN)/scheduler flags

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
