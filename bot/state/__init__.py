"""The state database (``STATE_DB_URL``): :mod:`.db` opens and migrates it; :mod:`.quiz`,
:mod:`.identifications`, :mod:`.stats` and :mod:`.updates` hold one job's queries each; :mod:`.store`
joins them; :mod:`.leases` keeps the round leases and plans of one replica. Nothing here imports
``telegram`` or ``discord``."""
