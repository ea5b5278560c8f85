"""Loomwork: a metadata-driven app builder. Blueprints become tables, an API and workflows."""

__version__ = "0.1.0"
