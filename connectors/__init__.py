"""Source readers.  A manifest's ``connector:`` name selects a class from :mod:`connectors.registry`."""
