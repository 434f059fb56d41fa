"""What every `tierbook` command shares: consoles, options, error handling, the container."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from typer.core import TyperGroup

from tierbook.bootstrap import Container, bootstrap
from tierbook.config import Settings
from tierbook.domain.errors import TierbookError, Unavailable

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class ErrorsAsOneLine(TyperGroup):
    """Turns tierbook's errors into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Unavailable as exc:
            _fail_database(exc.__cause__ or exc)
        except TierbookError as exc:
            _fail(exc.message)
        except DBAPIError as exc:
            _fail_database(exc.orig or exc)
        except SQLAlchemyError as exc:
            _fail(f"database: {exc}")
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            _fail(f"configuration: {where}: {problem['msg']}")
        except OSError as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def _fail_database(cause: BaseException) -> None:
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    _fail(f"database: {first} (is the database reachable, and has `tierbook migrate` run?)")


def _fail(message: str) -> None:
    err.print(f"error: {' '.join(message.split())}", markup=False)
    raise typer.Exit(1)


Tenant = Annotated[
    str,
    typer.Option("--tenant", "-t", envvar="TIERBOOK_TENANT", help="The tenant."),
]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="An RFC 3339 instant, e.g. 2026-01-31T23:59:59+11:00."),
]
Group = Annotated[str | None, typer.Option("--group", "-g", help="Group id or code.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def settings() -> Settings:
    return Settings()


@contextmanager
def opened(*, migrate: bool = False) -> Iterator[Container]:
    container = bootstrap(settings(), migrate=migrate)
    try:
        yield container
    finally:
        container.close()


def instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an RFC 3339 instant", param_hint="--as-of"
        ) from None
    if value.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} has no UTC offset (add Z or +10:00)", param_hint="--as-of"
        )
    return value


def database(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)
