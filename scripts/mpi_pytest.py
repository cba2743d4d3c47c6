"""Run pytest on every rank of an MPI launch, loudly wrong if the launch is not what was asked.

Usage: ``mpiexec -n P python scripts/mpi_pytest.py --expect-ranks P [pytest args…]``.

- The world size is asserted first: an MPICH-built mpi4py started by another MPI's ``mpiexec`` runs
  as P separate size-1 jobs, and pytest-mpi would silently *skip* every ``min_size=2`` test.
- Rank 0 prints pytest's normal output (and its summary line); other ranks write theirs to
  ``.mpi-logs/rank<r>.log`` and print it only if their tests failed. Any failing rank makes the run
  fail (mpiexec returns non-zero).
"""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--expect-ranks":
        print("usage: mpi_pytest.py --expect-ranks P [pytest args]", file=sys.stderr)
        return 2
    expected, pytest_args = int(args[1]), args[2:]
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    if size != expected:
        print(f"mpi_pytest: launched with {size} rank(s) per job but {expected} expected: the mpiexec on "
              f"PATH does not match the MPI mpi4py was built with ({MPI.Get_library_version().splitlines()[0]})",
              file=sys.stderr, flush=True)
        return 3
    import pytest

    pytest_args = ["--with-mpi", "-p", "no:cacheprovider", *pytest_args]
    if rank == 0:
        return int(pytest.main(pytest_args))
    os.makedirs(".mpi-logs", exist_ok=True)
    log = f".mpi-logs/rank{rank}.log"
    with open(log, "w") as fh, contextlib.redirect_stdout(fh):
        code = int(pytest.main(pytest_args))
    if code != 0:
        with open(log) as fh:
            sys.stderr.write(f"---- rank {rank} of {size}: pytest exit {code} ----\n{fh.read()}")
    return code


if __name__ == "__main__":
    sys.exit(main())
