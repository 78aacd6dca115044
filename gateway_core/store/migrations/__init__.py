"""Alembic environment and revisions of the store schema (applied by
:func:`gateway_core.store.migrate.upgrade`, ``Store.open(url, migrate=True)`` and
``gateway db upgrade``).

Add a revision (from the repository root; writes ``versions/vNNNN_<slug>.py``)::

    alembic -c gateway_core/store/migrations/alembic.ini revision -m "add response records" --rev-id 0002

then write its ``upgrade()`` by hand with ``op.*`` calls that work on SQLite and PostgreSQL
(``op.batch_alter_table`` to alter an existing table: SQLite cannot ``ALTER`` most things),
update ``gateway_core/store/schema.py`` to match (a test compares the two), set
:data:`HEAD` below to the new revision id (a test checks it against Alembic's head) and run
``ruff format`` on the new file. The command line reaches a database with
``-x url=postgresql://… -x schema=…`` (default: ``sqlalchemy.url`` in ``alembic.ini``).
"""

#: The newest revision id: start-up compares the database's ``alembic_version`` with it and
#: loads Alembic (~10 MiB resident) only when there is something to apply.
HEAD = "0002"
