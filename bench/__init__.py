"""hsi-bench core: registries, runner, store, metrics, datasets and profiles (no method-specific code)."""

__version__ = "0.1.0"
