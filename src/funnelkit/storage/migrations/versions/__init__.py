"""The revisions of the SQL store's schema, oldest first: ``r0001``, ``r0002``..."""
