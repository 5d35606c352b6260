"""Read-only reptile species database (``species.sqlite``), built from ``data/species/*.toml``.

See :mod:`bot.species_db.build` for how the database is built and validated, and
``bot/species_db/schema.sql`` for its columns.
"""
