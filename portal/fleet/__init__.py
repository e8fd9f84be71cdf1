"""The technicians' fleet view, behind a login (docs/portal.md §Fleet view).

Modules, one job each: ``settings`` (the ``[fleet]`` and ``[[account]]`` tables), ``store``
(its tables on both storage backends), ``ingest`` (meta, status frames and command results
from the city topics into those tables), ``health`` (what is highlighted and why, pure),
``auth`` (accounts, password hashes, sessions, CSRF tokens), ``ratelimit`` (bounded login
limits), ``commands`` (a form's command, published on the bridge's command topic), ``pages``
(HTML) and ``routes`` (the URLs, every one behind the login).
"""
