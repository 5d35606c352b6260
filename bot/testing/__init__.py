"""Test doubles shipped with the package: used by the tests and by ``reptile-museum selftest``."""
