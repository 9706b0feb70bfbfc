# Homeroom: `make demo` and `make test` set up everything they need, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
# A second environment with the lowest version of every runtime dependency pyproject.toml allows.
OLDEST := .venv-oldest
# One distribution per role, built from this tree (installers/packages/, README.md).
ROLES  := $(addprefix installers/packages/,core agent hub console)
PARTS  := protocol link hub agent console
# Debian packages the desktop, browser and TLS offload tests and the demo need, by the command
# each provides (without haproxy and nginx the offload tests skip, and CI would not run them).
SYSTEM_TOOLS := Xvfb:xvfb xdotool:xdotool xwininfo:x11-utils tmux:tmux chromium:chromium \
	haproxy:haproxy nginx:nginx
FUZZ_SECONDS ?= 300
# pytest-xdist workers for the suite: auto is one per core (two here, and on CI). Each worker
# has its own Xvfb, tmux servers and ports; WORKERS=0 runs the suite in one process.
# Here the whole suite took 346-378 s on two workers (5 runs), 634 s in one process.
WORKERS ?= auto
# The hub under a school's load (bench/hub_load): devices simulated in DRIVERS processes.
LOAD_AGENTS  ?= 5000
LOAD_DRIVERS ?= 2

.PHONY: demo test test-oldest lint unit coverage fuzz fuzz-smoke bench wheels system clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

# Wheels only (--only-binary): a range whose floor has no wheel for this Python is not a range.
$(OLDEST)/.ready: pyproject.toml .ci/oldest_constraints.py $(READY)
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/pip install --quiet --upgrade pip
	$(BIN)/python .ci/oldest_constraints.py pyproject.toml > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/pip install --quiet --only-binary=:all: -c $(OLDEST)/constraints.txt -e '.[test]'
	touch $@

system:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "Please install:$$missing (as root: apt-get install$$missing)"; exit 1; fi; \
	  echo "Installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(READY)
	$(BIN)/homeroom-console --demo 12

lint: $(READY)
	$(BIN)/ruff check $(PARTS) tests bench .ci
	$(BIN)/ruff format --check $(PARTS) tests bench .ci
	$(BIN)/mypy
	$(BIN)/mypy --strict .ci/oldest_constraints.py
	$(BIN)/mypy tests bench
	$(BIN)/lint-imports --no-logo --no-cache

unit: $(READY) system
	$(BIN)/pytest -q -n $(WORKERS)

# The suite with a line-coverage report, on every core as `make test` (pytest-cov gathers
# the workers' data). Apart from `make test`: the tracer slows the suite by a third (465
# against 343 s here), and CI has no use for the figure.
coverage: $(READY) system
	$(BIN)/pytest -q -n $(WORKERS) $(addprefix --cov=,$(PARTS)) --cov-report=term:skip-covered

# The same suite against the oldest allowed dependencies. Building wheels and fresh
# environments (the slow tests) says nothing new here, so they run only in `unit`.
test-oldest: $(OLDEST)/.ready system
	@echo "Oldest allowed versions: $$(paste -sd' ' $(OLDEST)/constraints.txt)"
	$(OLDEST)/bin/pytest -q -n $(WORKERS) -m 'not slow'

# The suite's summary line comes last, so CI reads how many tests ran.
test: lint fuzz-smoke unit

fuzz-smoke: $(READY)
	@$(BIN)/python tests/fuzz/fuzz_decoders.py -runs=20000 > .fuzz-smoke.log 2>&1 \
	  && echo "fuzz: 20000 decoder inputs, no crash" \
	  || { cat .fuzz-smoke.log; exit 1; }

fuzz: $(READY)
	$(BIN)/python tests/fuzz/fuzz_decoders.py -max_total_time=$(FUZZ_SECONDS)

wheels: $(READY)
	rm -f dist/homeroom_*.whl
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist $(ROLES)
	@ls dist/homeroom_*.whl

bench: $(READY) system
	$(BIN)/python -m bench
	$(BIN)/python -m bench.sealing
	$(BIN)/python -m bench.classroom 100 10
	$(BIN)/python -m bench.frames 60 $$(command -v veyon-server >/dev/null && echo --veyon)
	$(BIN)/python -m bench.desktop_latency 20 60 --as-installed $$(command -v veyon-server >/dev/null && echo --veyon)
	$(BIN)/python -m bench.do_start 20
	$(BIN)/python -m bench.console_grid 30
	$(BIN)/python -m bench.session_costs 200 100000
	$(BIN)/python -m bench.hub_load --agents $(LOAD_AGENTS) --drivers $(LOAD_DRIVERS)

clean:
	rm -rf $(VENV) $(OLDEST) .pytest_cache .mypy_cache .ruff_cache .hypothesis
