"""Fault drills and the load run for intelshare.

``python -m tools.drills`` starts its own stack on this machine: a fresh PostgreSQL
database (``intelshare_drills``), gunicorn serving ``config.wsgi`` on
127.0.0.1, and a Celery worker on Redis database 5; then it breaks things
(restarts PostgreSQL and Redis, points feeds at partners that hang, answer
garbage or answer slowly) and checks what clients and the database saw.
``python -m tools.drills load`` is the load run. Every drill prints PASS or FAIL
with its numbers; the exit status is non-zero when any drill failed.

These are scripts, not tests: they restart the machine's shared services, so
they never run under pytest (``tests/reliability`` holds the in-process
subset). Every address is 127.0.0.1, and PostgreSQL and Redis are started
again in ``finally`` blocks whatever happens.
"""
