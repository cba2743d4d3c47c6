"""The device (GPU) path with numba-cuda: closures, step and placement on the rank's GPU."""
