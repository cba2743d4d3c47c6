"""MPI runtime: initialisation and abort-on-error (mpi.py), decomposition (decomp.py), halos (halo.py)."""
