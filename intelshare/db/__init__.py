"""Speed tricks tied to Django's and psycopg's internals, kept in one place: each module names
the library versions it was written against, and ``tests/intelshare/db/`` fails when one of
those assumptions stops holding."""
