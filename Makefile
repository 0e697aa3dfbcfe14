# make test   - set up what is missing (.venv from requirements.txt, siege from Debian's packages), run the tests
# make bench  - the same set-up, then the whole benchmark suite (ARGS="--quick" etc. pass options to it)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: test bench venv siege clean

test: venv siege
	$(PY) -m pytest

bench: venv siege
	$(PY) run_all.py $(ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

siege:
	@command -v siege >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq siege; }

clean:
	rm -rf $(VENV) .pytest_cache
