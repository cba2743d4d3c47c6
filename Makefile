# hpcclose — the commands a newcomer needs. `make demo` and `make test` set up first if needed.
VENV    ?= .venv
PY      := $(VENV)/bin/python
MPIEXEC := $(VENV)/bin/mpiexec
# one Numba thread per rank in the MPI runs: two ranks already fill this 2-core machine
MPITEST := NUMBA_NUM_THREADS=1 $(MPIEXEC)
LOGS    := .test-logs
# the shipped simulation inputs, whose Numba kernels `make setup` compiles into the cache
SIM_INPUTS := $(filter-out inputs/train_%,$(wildcard inputs/*.toml))
# a failing test run must fail its recipe even though its output goes through tee
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: setup demo test test-fast test-serial test-mpi lint clean help

help:
	@echo "make demo   set up if needed, then run the demo job"
	@echo "make test   set up if needed, then run the whole test suite (serial + MPI on 2 and 3 ranks)"
	@echo "make test-fast  the serial unit tests without those marked slow (training, CLI and mpiexec runs): < 1 min"
	@echo "make setup  install MPICH, parallel HDF5 and the Python environment in $(VENV), compile the kernels"

setup:
	@bash scripts/setup.sh
	@NUMBA_NUM_THREADS=1 $(VENV)/bin/hpcclose compile $(SIM_INPUTS) > $(VENV)/compile.log 2>&1 \
		&& echo "[setup] kernels of the shipped inputs compiled into the cache ($(VENV)/compile.log)" \
		|| { cat $(VENV)/compile.log; exit 1; }

demo: setup
	NUMBA_NUM_THREADS=1 $(MPIEXEC) -n 2 $(VENV)/bin/hpcclose run inputs/plane_source_m2.toml --overwrite \
		--set output.dir='"runs/demo"' --no-progress
	$(VENV)/bin/hpcclose plot runs/demo --exact
	@echo "demo results: runs/demo/ (fields_*.h5 + fields.xdmf for ParaView, diagnostics.csv, plots/*.png)"

test: setup
	@$(MAKE) --no-print-directory lint test-serial test-mpi
	@$(PY) scripts/test_summary.py $(LOGS)/serial.log $(LOGS)/mpi2.log $(LOGS)/mpi3.log $(LOGS)/mpi4.log

# The quick tier for working: the unit tests marked @pytest.mark.slow (over ~1 s, or launching processes:
# training, CLI runs, mpiexec) are left out; the environment must exist (make setup). One Numba thread:
# on a small or shared machine a parallel kernel's threads wait for each other (this tier ran 4x slower).
test-fast:
	NUMBA_NUM_THREADS=1 $(PY) -m pytest tests/unit -q -m "not slow" --timeout=600

test-serial:
	@mkdir -p $(LOGS)
	$(PY) -m pytest tests/unit -q --timeout=600 | tee $(LOGS)/serial.log

test-mpi:
	@mkdir -p $(LOGS)
	$(MPITEST) -n 2 $(PY) scripts/mpi_pytest.py --expect-ranks 2 tests/mpi -q --timeout=300 | tee $(LOGS)/mpi2.log
	$(MPITEST) -n 3 $(PY) scripts/mpi_pytest.py --expect-ranks 3 tests/mpi -q --timeout=300 | tee $(LOGS)/mpi3.log
	$(MPITEST) -n 4 $(PY) scripts/mpi_pytest.py --expect-ranks 4 tests/mpi/test_rank_invariance.py -q \
		--timeout=300 | tee $(LOGS)/mpi4.log

lint:
	$(VENV)/bin/ruff check hpcclose tests drivers scripts

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(LOGS) .mpi-logs
