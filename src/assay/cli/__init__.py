"""The `assay` command line. Modules here import click alone at the top."""
