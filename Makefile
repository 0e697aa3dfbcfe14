# make test   - set up what is missing (the venvs, a free-threaded CPython built once, the tools from Debian's
#               packages: siege, h2load, redis-server, postgresql), lint, run the tests
# make bench  - the same set-up, then the whole benchmark suite (ARGS="--quick" etc. pass options to it)
# make soak   - every server for 10 minutes, 8 at a time, under mixed load: memory and open files must stay flat
# make storm  - the signal storm of the tests, ten times longer (STORM_SEED=N replays one)
# make stall  - why there are two load models: a 2 s stall as siege and the open-loop driver each measure it
# make pools  - each pool by itself (threads, processes, subinterpreters): start-up, memory, round trip, parallelism
# make cluster - servers 5 and 6 with broker/scheduler and workers on hosts of their own (network namespaces, root),
#                one host cut off or killed mid-run: the fault table (into docs/: make report ARGS="--only cluster")
# make report - every results block of the README and docs/ in one sitting at one commit (over an hour; a clean tree)
# make db-faults - PostgreSQL restarted under each strategy on the suite's Python, and pre-forked workers wanting
#                  more connections than max_connections: what users saw (a PostgreSQL of its own, then removed)
# make celery-waits - three ways for server 6 to await Celery's results (pub/sub, polling, a thread each), measured
# make gil-twin - the with-GIL twin of the free-threaded build below (same source and flags), built once; its path
# make gil-cost - T1 on the free-threaded build against its twin with the GIL, and two threads computing on each
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Server 7 needs Python >= 3.13 (subinterpreters with their own GIL): PYTHON313=/path/to/python, else the first of
# python3.14, python3.13 and pyenv's 3.13+ versions that runs. None found: server 7 is left out, and says why.
PYTHON313 ?= $(shell for p in python3.14 python3.13 $$(ls -d $$HOME/.pyenv/versions/3.1[3-9]*/bin/python3 \
	2>/dev/null | sort -rV); do $$p -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null && \
	{ command -v $$p; break; }; done)
VENV313 := .venv313
# Servers 3 and 4 on a free-threaded Python (3.13t+, the GIL removed): PYTHON_FT=/path/to/python3.13t, else the first
# of python3.14t, python3.13t and pyenv's 3.13t+ that is free-threaded, else CPython built once with --disable-gil
# into ~/.cache/tornado-bench (tools/free_threaded_python.sh: minutes, once a machine). None: those rows are left out.
VENV313T := .venv313t
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: test bench report soak storm stall pools cluster db-faults celery-waits gil-cost venv venv313 venv313t gil-twin tools clean FORCE

# The linter first (its rules are in pyproject.toml): a slip fails in seconds, not after the tests.
test: venv venv313 venv313t tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

# The free-threaded Python is built (once a machine) only for a command whose rows need it.
bench: venv venv313 tools
	@if $(PY) -m harness.needs free-threaded $(ARGS); then $(MAKE) --no-print-directory venv313t; fi
	$(PY) run_all.py $(ARGS)

report: venv venv313 venv313t tools
	$(PY) -m harness.report.blocks $(ARGS)

soak: venv venv313 tools
	@if $(PY) -m harness.needs free-threaded $(ARGS); then $(MAKE) --no-print-directory venv313t; fi
	$(PY) -m harness.experiments.soak $(ARGS)

storm: venv venv313 venv313t tools
	STORM_SCALE=10 $(PY) -m pytest -p no:cacheprovider tests/test_signal_storm.py --timeout 3000

stall: venv tools
	$(PY) -m harness.experiments.stall $(ARGS)

pools: venv venv313 venv313t
	$(if $(wildcard $(VENV313)/bin/python),$(VENV313)/bin/python,$(PY)) -m harness.experiments.pools
	$(if $(wildcard $(VENV313T)/bin/python),$(VENV313T)/bin/python -m harness.experiments.pools)

cluster: venv tools
	$(PY) -m harness.hosts.cluster $(ARGS)

db-faults: venv tools
	$(PY) -m harness.experiments.db_faults $(ARGS)

celery-waits: venv tools
	$(PY) -m harness.experiments.celery_waits $(ARGS)

venv: $(VENV)/.installed

venv313:
ifeq ($(PYTHON313),)
	@echo "No Python >= 3.13 found (set PYTHON313=/path/to/python3.13): server 7 (subinterpreters) is left out."
else
	@$(MAKE) --no-print-directory $(VENV313)/.installed PYTHON313=$(PYTHON313)
endif

$(VENV313)/.installed: requirements-313.txt
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/pip install --quiet --disable-pip-version-check -r requirements-313.txt
	touch $@

venv313t:
	@py=$$(tools/free_threaded_python.sh) || { [ -z "$$PYTHON_FT" ] || exit 2; \
		echo "No free-threaded Python found or built (PYTHON_FT=/path/to/python3.13t): the free-threaded rows are left out."; \
		exit 0; } && $(MAKE) --no-print-directory $(VENV313T)/.installed PYTHON313T="$$py"

# Made anew when the interpreter changes (the stamp holds its path) or is newer; the GIL must stay off after the
# servers' imports (an extension that does not declare free-threading support turns it back on, with a warning).
$(VENV313T)/.installed: requirements-313t.txt $(PYTHON313T) \
		$(if $(filter $(PYTHON313T),$(shell cat $(VENV313T)/.installed 2>/dev/null)),,FORCE)
	rm -rf $(VENV313T)
	$(PYTHON313T) -m venv $(VENV313T)
	$(VENV313T)/bin/pip install --quiet --disable-pip-version-check -r requirements-313t.txt
	$(VENV313T)/bin/python -c 'import sys, tornado.web, psutil, fastapi, flask, granian, gunicorn.app.base; sys.exit(sys._is_gil_enabled() and \
		"$(VENV313T): importing tornado.web, psutil, fastapi, flask or granian turned the GIL back on")'
	echo $(PYTHON313T) >$@

gil-twin:
	@tools/free_threaded_python.sh --gil

gil-cost: venv venv313t
	$(PY) -m harness.experiments.gil_cost --free-threaded $(VENV313T)/bin/python --gil "$$(tools/free_threaded_python.sh --gil)" $(ARGS)

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# siege: the closed-loop load; h2load (nghttp2-client): the independent check of the open-loop driver, in the tests;
# redis-server: server 6's broker and result store (Celery on Redis); postgresql: the db task kind's database (the
# suite makes a cluster of its own, harness/postgres.py).
tools:
	@command -v siege >/dev/null && command -v h2load >/dev/null && command -v redis-server >/dev/null && \
		ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq siege nghttp2-client redis-server postgresql; }

clean:
	rm -rf $(VENV) $(VENV313) $(VENV313T) .pytest_cache
