"""prov: a provenance tracker for media evidence."""

__version__ = "0.1.0"
