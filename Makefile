# Cohort Intelligence: `make demo` runs the pipeline on the Online Retail data,
# `make test` runs every test. Both create the virtual environment first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast airflow-ui summary lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned requirements and the package

demo: $(STAMP) ## Load Online Retail into Postgres, run every month through Airflow, print a summary
	$(BIN)/cohortintel demo $(DEMO_ARGS)

test: $(STAMP) ## Run the whole test suite (starts an embedded Postgres if none answers)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the tests that need neither Airflow runs nor the database
	$(BIN)/pytest -m "not postgres and not airflow" $(PYTEST_ARGS)

summary: $(STAMP) ## Print the summary of what the warehouse holds now
	$(BIN)/cohortintel summary

airflow-ui: $(STAMP) ## Start Airflow (api-server, scheduler, dag-processor, triggerer) at 127.0.0.1:8080
	eval "$$($(BIN)/cohortintel airflow-env)" && export PATH="$(abspath $(BIN)):$$PATH" && airflow db migrate && exec airflow standalone

lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check dags include tests benchmarks
	$(BIN)/ruff format --check dags include tests benchmarks

clean: ## Remove the virtual environment, Airflow homes and outputs (not the databases)
	rm -rf $(VENV) .airflow .airflow-* output output-*
