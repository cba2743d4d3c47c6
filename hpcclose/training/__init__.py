"""Training of network closures: losses, the training loop, the convexity check.

TensorFlow is imported only by the training loop and the losses, not by this package.
"""
