"""`python -m provenance` runs the prov CLI."""

from .cli import main

main()
