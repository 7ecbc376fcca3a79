"""DECSC: deep equilibrium convolutional sparse coding for hyperspectral denoising.

``network`` holds the layer f(z, y) (Eq. 20), ``solvers`` the forward equilibrium solvers, ``gradients``
the backward passes, ``deq`` their combination and ``method`` the registered configurations.
"""

from methods.decsc import method  # noqa: F401  (registers the configurations)
