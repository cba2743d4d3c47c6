"""Fast math shared by the Numba hot paths: the Newton closure, the network kernels, the flux and, later,
the GPU kernels.

* :mod:`.jit` — the compile options of the serial and parallel kernels (``cache=True``, no fastmath).
* :mod:`.fastmath` — scalar building blocks: ``fma`` (one rounding), the two vectorisable exps on one
  Cody–Waite/Taylor core (``safe_exp`` for sums, ``exp_row``/``exp_inplace`` for the flux's nodal
  values), ``log1p_unit`` and the softplus/sigmoid pair of the networks.
* :mod:`.residuals` — the moment residual ‖⟨m exp(α·m)⟩ − u‖₂ / u0 per cell (the hybrid closure's test).
* :mod:`.compare` — which cells' values changed in a bit since last used (skipping unchanged cells).

The scalar functions allocate nothing and branch only through selects, so loops over them vectorise on
the CPU and a numba-cuda port can call them as device functions.
"""
