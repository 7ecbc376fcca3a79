"""DECSC: deep equilibrium convolutional sparse coding for hyperspectral denoising.

``network`` holds the layer f(z, y) (Eq. 20), ``solvers`` the forward equilibrium solvers, ``gradients``
the backward passes, ``deq`` their combination and ``method`` the registered configurations.
``mamba_method`` registers the released (VMamba) layout of ``mamba_layer``, ``vmamba`` and ``scan``.
"""

from methods.decsc import method  # noqa: F401  (registers the configurations)
from methods.decsc import mamba_method  # noqa: F401,E402  (registers decsc.mamba*)
