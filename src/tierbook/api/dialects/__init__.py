"""The four vendor dialects of SPEC §5, each at the vendor's own paths over the same services.

Each dialect is a package of its own: `translate` (pure: wire shapes to service commands and
queries, results and errors back) and `routes` (thin handlers, and the one renderer that puts
every error under the dialect's prefix in the vendor's envelope). No dialect imports another.
The routes are imported only when an app mounts them, so a translator imports no web framework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

_registered = False


def include_dialects(app: FastAPI) -> None:
    """Mount the Omneo, Altcraft, SessionM and Exchange Solutions routes and error renderers."""
    from tierbook.api import errors
    from tierbook.api.dialects.altcraft import routes as altcraft
    from tierbook.api.dialects.exchange_solutions import routes as exchange_solutions
    from tierbook.api.dialects.omneo import routes as omneo
    from tierbook.api.dialects.sessionm import routes as sessionm

    global _registered
    if not _registered:
        # The renderer table is the process's, shared by every app: fill it once.
        for prefix, renderer in (
            (omneo.PREFIX + "/", omneo.render),
            (altcraft.PREFIX + "/", altcraft.render),
            (sessionm.PREFIX + "/", sessionm.render),
            (exchange_solutions.CLIENT + "/", exchange_solutions.render),
            (exchange_solutions.OAUTH + "/", exchange_solutions.render_oauth),
        ):
            errors.register_dialect(prefix, renderer)
        _registered = True
    app.include_router(omneo.router)
    app.include_router(altcraft.router)
    app.include_router(sessionm.router)
    app.include_router(exchange_solutions.oauth_router)
    app.include_router(exchange_solutions.client_router)
