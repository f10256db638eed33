"""The version of mtlclassic (its own module: io and the build read it)."""

__version__ = "0.1.0.dev0"
