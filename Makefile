# Homeroom: `make demo` and `make test` set up everything they need, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.ready
# Debian packages the desktop tests and the demo need, by the command each provides.
SYSTEM_TOOLS := Xvfb:xvfb xdotool:xdotool xwininfo:x11-utils tmux:tmux
FUZZ_SECONDS ?= 300

.PHONY: demo test lint unit fuzz fuzz-smoke bench system clean

$(READY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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
	$(BIN)/ruff check protocol link hub agent console tests bench
	$(BIN)/mypy

unit: $(READY) system
	$(BIN)/pytest -q

# The suite's summary line comes last, so CI reads how many tests ran.
test: lint fuzz-smoke unit

fuzz-smoke: $(READY)
	@$(BIN)/python tests/fuzz/fuzz_decoders.py -runs=20000 > .fuzz-smoke.log 2>&1 \
	  && echo "fuzz: 20000 decoder inputs, no crash" \
	  || { cat .fuzz-smoke.log; exit 1; }

fuzz: $(READY)
	$(BIN)/python tests/fuzz/fuzz_decoders.py -max_total_time=$(FUZZ_SECONDS)

bench: $(READY)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.classroom 100 10
	$(BIN)/python -m bench.frames 60 $$(command -v veyon-server >/dev/null && echo --veyon)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
