"""`python -m provenance` runs the prov CLI."""

from provenance.cli import main

main()
