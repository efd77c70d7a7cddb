"""Database errors, translated once into French: what a database call may raise, and the one line an operator reads."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from exchange.errors import TransientError

# What any database call may raise (callers above the store catch these, never a SQLAlchemy class by name).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError,)
# The database (or the connection to it) went away: nothing half-written, the next run resumes.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (DBAPIError,)


class DatabaseUnavailable(TransientError):
    """The database cannot be reached or went away during the work (transient, stops the run)."""


def one_line(error: BaseException) -> str:
    """A database error on one line: the class, then the driver's first line, without SQLAlchemy's background link."""
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{error.__class__.__name__} : {detail[0] if detail else ''}".rstrip(" :")


def unreachable(error: BaseException) -> DatabaseUnavailable:
    """The run's error for a database that went away during the work."""
    return DatabaseUnavailable(f"base de données injoignable : {one_line(error)}")


def is_unreachable(error: BaseException, url: str) -> bool:
    """The database cannot be opened or reached (a SQLite file that cannot be opened counts, as an OSError)."""
    if isinstance(error, OSError):
        return url.startswith("sqlite")
    return isinstance(error, (OperationalError, InterfaceError))


def shown_url(url: str) -> str:
    """The database URL without its password, as messages show it."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as configured, minus anything before '@'
        return url.split("@")[-1]


def reason_of(error: BaseException) -> str:
    """The driver's first line (or the class name) of a connection error."""
    return str(getattr(error, "orig", None) or error).splitlines()[0] if str(error) else error.__class__.__name__
