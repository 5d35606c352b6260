"""Tools run from a checkout against the fakes of :mod:`tests.fakes`, not shipped in the package:
``python -m tests.tools.selftest`` (``make selftest``), ``python -m tests.tools.loadbench``
(``make loadbench``) and the awkward-input generators both use (:mod:`tests.tools.inputs`)."""
