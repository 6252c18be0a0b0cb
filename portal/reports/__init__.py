"""The report domain (models, service) and the reporter interface (a blueprint)."""
