"""The performance benchmark: ``python -m tools.benchmarks``.

It starts intelshare under gunicorn on a fresh PostgreSQL database, medallion
3.0.0 and OpenTAXII 0.9.3 on loopback, loads the same synthetic LLM-misuse
feed (``intelshare.content.generator``, fixed seed) into each by TAXII POST,
and measures every server with the same HTTP client in the same run: ingest,
full and incremental pulls, filters, manifest, concurrent readers. Then a
scale sweep of intelshare alone (bulk-loaded through ``ingest.store``), the
PostgreSQL streaming "limit", the policy cost, worker memory, and the cost of
stix2-validator against intelshare's structural check.

Modules: ``run`` (the orchestration and the per-server suite), ``sweep``
(policy line, scale sweep, EXPLAIN), ``taxii`` (the measuring client),
``servers``/``opentaxii`` (processes), ``setup_db`` (Django-side helpers run
in a subprocess with ``DATABASE_URL``), ``pg`` (database admin and the COPY
limit), ``pyspy`` (profiles), ``monitor`` (progress, RSS, failed steps),
``stats`` and ``report``. ``shims/`` runs inside OpenTAXII's own virtualenv.
"""
