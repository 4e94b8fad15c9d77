"""Speed tricks tied to Django's and psycopg's internals, kept in one place.

Each module names the library versions it was written against; the tests in
``tests/intelshare/db/`` fail when one of those assumptions stops holding.
"""
