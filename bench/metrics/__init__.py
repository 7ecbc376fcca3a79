"""Image-quality metrics as pure functions plus a spec (direction, unit, convention).

Defaults follow SPEC section 3; other published conventions are registered as ``metric@convention``.
"""
