"""Parameters of the Newton iteration and the status codes its kernels return (shared by the robust path,
the fast lanes and the batch driver)."""

# Trial exponents above this are rejected (e^500 ≈ 1e217: sums and Hessian entries stay finite).
ZMAX = 500.0
# Armijo backtracking: sufficient decrease c, at most MAX_HALVINGS halvings of the step.
ARMIJO_C = 1e-4
MAX_HALVINGS = 50
# Unit roundoff: scales the tolerated rounding level of φ in the line search.
EPS = 2.220446049250313e-16

# Status codes of newton_cell (newton_batch stores the one of the unregularised attempt per cell).
CONVERGED, MAX_ITER, LINESEARCH, CHOLESKY, NONFINITE, UNBOUNDED, ILLCONDITIONED, NOT_STARTED = range(8)
STATUS_NAMES = ("converged", "max_iter", "line search failed", "Cholesky failed", "non-finite",
                "unbounded (not realizable under the quadrature)",
                "ill-conditioned (handed to the robust path)", "not started")
