"""Speed tricks tied to Django's and psycopg's internals, kept in one place."""
