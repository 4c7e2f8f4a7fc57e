"""The installed version of assay."""

__version__ = "0.1.0"
