"""Network closures: framework-neutral model files (export), Numba (cpu) and TensorFlow (gpu) inference,
Keras models for training (models; imports TensorFlow), and the registered closures "icnn", "mlp",
"monotone" (closure)."""

from . import closure  # noqa: F401  (registers the closures)
