# make test   - set up what is missing (.venv from requirements.txt, siege from Debian's packages), run the tests
# make bench  - the same set-up, then the whole benchmark suite (ARGS="--quick" etc. pass options to it)
# make soak   - every server side by side for 10 minutes under mixed load: memory and open files must stay flat
# make storm  - the signal storm of the tests, ten times longer (STORM_SEED=N replays one)
# make stall  - why there are two load models: a 2 s stall as siege and the open-loop driver each measure it
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: test bench soak storm stall venv tools clean

test: venv tools
	$(PY) -m pytest

bench: venv tools
	$(PY) run_all.py $(ARGS)

soak: venv tools
	$(PY) -m harness.soak $(ARGS)

storm: venv tools
	STORM_SCALE=10 $(PY) -m pytest -p no:cacheprovider tests/test_signal_storm.py --timeout 3000

stall: venv tools
	$(PY) -m harness.stall $(ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# siege: the closed-loop load; h2load (nghttp2-client): the independent check of the open-loop driver, in the tests.
tools:
	@command -v siege >/dev/null && command -v h2load >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq siege nghttp2-client; }

clean:
	rm -rf $(VENV) .pytest_cache
