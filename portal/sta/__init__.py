"""A read-only OGC SensorThings API 1.1 (Part 1: Sensing) over the portal's store, under
``/v1.1/`` (docs/portal.md §SensorThings API; the standard's facts in docs/references.md §R.F).

``filter`` parses ``$filter`` into a typed tree, ``sql`` turns a tree into a WHERE clause with
bound parameters (SQLite and PostgreSQL), ``entities`` builds the entity documents from the
public view of the store (the privacy rules of ``portal.catalog``), ``routes`` serves paths and
query options."""
