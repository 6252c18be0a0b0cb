"""Confidential reporting portal.

The package itself imports nothing, so a module deep in the layers (the crypto
package, the evidence sandbox's child) loads only what it needs. The two WSGI
apps are built by `portal.app.create_app(kind)`; docs/architecture.md draws the layers.
"""
