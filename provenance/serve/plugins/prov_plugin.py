"""Loads prov's Datasette plugin (`datasette --plugins-dir provenance/serve/plugins`)."""

from provenance.serve.plugin import (  # noqa: F401 - pluggy finds the hooks by name here
    asgi_wrapper,
    register_routes,
    render_cell,
    startup,
)
