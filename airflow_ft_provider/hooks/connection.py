"""Reading an Airflow connection into what a transport needs, refusing what cannot work.

Every refusal is a :class:`ConnectionConfigError` naming the connection, the field and the fix,
and never the secret: a bad connection is found when it is read, not as a hang, a raw exception or
a silent fallback to defaults later.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow_ft_provider.errors import ConnectionConfigError
from airflow_ft_provider.platforms.extras import ExtraError, Extras
from airflow_ft_provider.transport.settings import ClientSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_ft_provider.platforms.record import PlatformRecord


def config_error(conn: Connection, problem: str) -> ConnectionConfigError:
    return ConnectionConfigError(f"Connection {conn.conn_id!r}: {problem}")


def extras(conn: Connection) -> Extras:
    """The connection's extras. Text that is not a JSON object is refused, not read as "no extras"
    (which is what Airflow's ``extra_dejson`` does, silently)."""
    raw = conn.extra
    if raw in (None, ""):
        return Extras({}, conn.conn_type or "")
    if isinstance(raw, dict):
        return Extras(raw, conn.conn_type or "")
    try:
        values: Any = json.loads(raw)
    except (TypeError, ValueError):
        raise config_error(
            conn, 'its Extra field is not JSON. Write the extras as a JSON object, e.g. {"timeout": 30}.'
        ) from None
    if not isinstance(values, dict):
        raise config_error(
            conn,
            f'its Extra field is a JSON {type(values).__name__}, not an object. Write it as {{"name": value, ...}}.',
        )
    return Extras(values, conn.conn_type or "")


def settings(conn: Connection, record: PlatformRecord) -> ClientSettings:
    """The transport's bounds from the extras (see ``transport.settings.BOUNDS``)."""
    with named(conn):
        return ClientSettings.from_extras(extras(conn), record.requests_per_minute)


@contextlib.contextmanager
def named(conn: Connection) -> Iterator[None]:
    """Turns an :class:`ExtraError` raised inside into the connection's :class:`ConnectionConfigError`."""
    try:
        yield
    except ExtraError as exc:
        raise config_error(conn, str(exc)) from None


def base_url(conn: Connection, default: str | None) -> str | None:
    """The connection's ``host`` (or ``base_url`` extra) as a URL; None: the platform's default.

    Plain ``http://`` is refused except for loopback hosts (emulators, local proxies) or with
    ``allow_insecure_http``: keys must not cross a network in clear. A user name or password in
    the URL is refused (it would show in every error message): the key goes in Password.
    """
    found = extras(conn)
    raw = found.get("base_url") or conn.host
    if not raw:
        return default
    raw = str(raw).strip()
    url = raw if "://" in raw else f"https://{raw}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise config_error(
            conn,
            f"host {_without_userinfo(raw)!r} is not an http(s) URL. Set the host to e.g. "
            "'https://api.example.com/v1' (with https://) or leave it empty for the platform's default.",
        )
    if parts.username is not None or parts.password is not None:
        raise config_error(
            conn,
            f"host {_without_userinfo(raw)!r} contains a user name or password. Remove them from the host: "
            "the key goes in the connection's Password field.",
        )
    try:
        port = parts.port
    except ValueError:
        raise config_error(conn, f"host {raw!r} has an invalid port.") from None
    if conn.port:
        if port is not None and port != conn.port:
            raise config_error(
                conn, f"host {raw!r} names port {port} but the Port field says {conn.port}; keep one of them."
            )
        if port is None:
            parts = parts._replace(netloc=f"{parts.netloc}:{conn.port}")
    with named(conn):
        insecure_ok = found.flag("allow_insecure_http", False)
    if parts.scheme == "http" and not is_loopback(parts.hostname or "") and not insecure_ok:
        raise config_error(
            conn,
            f"plain http:// to {parts.hostname!r} would send the API key unencrypted. Use https://, or set "
            "the extra allow_insecure_http=true if this is intended.",
        )
    return urlunsplit(parts).rstrip("/")


def _without_userinfo(raw: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", raw)


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` is this machine (where plain http:// is allowed: emulators, local proxies)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


#: What may go into an HTTP header as a credential: visible ASCII, no spaces.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


def require_secret(conn: Connection, value: str | None, what: str, where: str = "Password") -> str:
    """The credential, stripped of the line break or spaces a paste often brings along.

    Anything else that cannot go into a header is refused here, by name and never shown:
    sent as is, httpx would reject it with an error that quotes the whole header.
    """
    secret = value.strip() if isinstance(value, str) else ""
    if not secret:
        raise config_error(conn, f"it has no {what}. Put it in the connection's {where} field.")
    if not _HEADER_SAFE.fullmatch(secret):
        raise config_error(
            conn,
            f"the {what} in {where} contains spaces, line breaks or non-ASCII characters, so it cannot "
            "be sent. Paste the key alone, without other text.",
        )
    return secret


def read_credential_file(conn: Connection, path: str, extra: str, what: str, instead: str) -> str:
    """The text of the credential file an extra names (``key_path``, ``client_certificate_path``).

    ``what``: what to copy there; ``instead``: the alternative, e.g. "paste its JSON into keyfile_dict".
    """
    path = os.path.expanduser(path.strip())
    if not os.path.isfile(path):
        raise config_error(
            conn,
            f"{extra} {path!r} is not a file on this machine. Copy {what} there (on every worker and "
            f"triggerer), or {instead}.",
        )
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise config_error(
            conn, f"cannot read {extra} {path!r} ({reason}). Make it readable by the Airflow user, or {instead}."
        ) from None
