"""Browsing the database in Datasette: migrations, metadata, plugin and server."""
