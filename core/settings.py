"""Where Redis is: from a URL, or from CRS's own REDIS_* settings (environment or .env file);
and CRS's time-zone offset (TIMEZONE_OFFSET), which names the days its usage is counted under.

Precedence, first found wins: --redis-url, KEYOPS_REDIS_URL, then CRS's settings. For CRS's
settings the process environment beats the .env file, because that is how CRS's own dotenv
loading behaves, so keyops talks to the very Redis the relay on that host talks to.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from keyops.core.errors import BadInput

# Far above the worst call keyops makes (~10 ms), so a slow server is not taken for a dead one;
# fault tests shorten it.
SOCKET_TIMEOUT_SECONDS = 15.0

CRS_SETTING_NAMES = ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB", "REDIS_ENABLE_TLS")


def socket_timeout_of(connection: object) -> float:
    """The timeout a connection was made with (the fast paths time their own reads and writes)."""
    timeout = getattr(connection, "socket_timeout", None)
    return float(timeout) if timeout else SOCKET_TIMEOUT_SECONDS


TLS_ENV_NAMES = {
    "ca_file": "KEYOPS_TLS_CA_FILE",
    "cert_file": "KEYOPS_TLS_CERT_FILE",
    "key_file": "KEYOPS_TLS_KEY_FILE",
    "skip_hostname_check": "KEYOPS_TLS_SKIP_HOSTNAME_CHECK",
}


# Plain frozen dataclasses, not pydantic models: every command that talks to Redis builds these,
# and importing pydantic would cost `keyops keys list` a good part of its start-up time.


class SecretStr:
    """A password that never prints: repr and str show stars (the name and method match
    pydantic's SecretStr, which this replaces)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How a rediss:// connection checks the server and proves the client: a CA file for a
    private CA, a client certificate and key for servers that ask for one (tls-auth-clients),
    and, for servers whose certificate names another host, no hostname check (the chain is
    still verified)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    skip_hostname_check: bool = False

    @property
    def given(self) -> bool:
        return bool(self.ca_file or self.cert_file or self.key_file or self.skip_hostname_check)


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """A resolved Redis endpoint. `password` is a SecretStr so it never prints by accident."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    tls_options: TlsOptions = field(default_factory=TlsOptions)
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS
    source: str = "defaults"
    # CRS's TIMEZONE_OFFSET as CRS reads it (whole hours; 0 or unset is +8), and where from.
    timezone_offset: int = 8
    timezone_source: str = "default"

    @property
    def endpoint(self) -> str:
        """host:port/db, safe to show: no user name, no password."""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


def parse_redis_url(url: str, source: str) -> RedisSettings:
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError as error:
        raise BadInput(f"bad Redis URL from {source}: {error}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise BadInput(
            f"bad Redis URL from {source}: scheme must be redis:// or rediss://, "
            f"not {parts.scheme + '://' if parts.scheme else 'nothing'}"
        )
    if not parts.hostname:
        raise BadInput(f"bad Redis URL from {source}: it names no host")
    path = parts.path.lstrip("/")
    if path and not path.isdigit():
        raise BadInput(f"bad Redis URL from {source}: database {path!r} is not a number")
    return RedisSettings(
        host=parts.hostname,
        port=port,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
        tls=parts.scheme == "rediss",
        source=source,
    )


# JavaScript's white space (\s, and what trim() removes): CRS's dotenv matches and trims with it.
_JS_SPACE_CHARS = (
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_SPACE = "[" + re.escape(_JS_SPACE_CHARS) + "]"
# dotenv 16's LINE pattern (lib/main.js), transliterated: NAME=VALUE or NAME: VALUE, an optional
# `export`, a value in '', "" or `` quotes, or unquoted up to the first '#' (a comment even
# without a space before it).
_DOTENV_LINE = re.compile(
    r"^{s}*(?:export{s}+)?([\w.-]+)(?:{s}*={s}*?|:{s}+?)"
    r"({s}*'(?:\\'|[^'])*'|{s}*\"(?:\\\"|[^\"])*\"|{s}*`(?:\\`|[^`])*`|[^#\r\n]+)?"
    r"{s}*(?:#.*)?$".replace("{s}", _JS_SPACE),
    re.MULTILINE | re.ASCII,
)
_DOTENV_QUOTED = re.compile(r"^(['\"`])([\s\S]*)\1$", re.MULTILINE)


def read_env_file(path: Path) -> dict[str, str]:
    """A dotenv file as CRS's dotenv (16) reads it, so `ENCRYPTION_KEY=abc#def` is `abc` here
    too: a key hashed with another reading of it would never authenticate."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot read CRS env file {path}: {error.strerror}") from None
    values: dict[str, str] = {}
    for match in _DOTENV_LINE.finditer(re.sub(r"\r\n?", "\n", text)):
        value = (match[2] or "").strip(_JS_SPACE_CHARS)
        quote = value[:1]
        value = _DOTENV_QUOTED.sub(r"\2", value)
        if quote == '"':
            value = value.replace("\\n", "\n").replace("\\r", "\r")
        values[match[1]] = value
    return values


def settings_from_crs(values: Mapping[str, str], source: str) -> RedisSettings:
    port_text = values.get("REDIS_PORT", "6379") or "6379"
    db_text = values.get("REDIS_DB", "0") or "0"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadInput(f"REDIS_PORT from {source} is not a port number: {port_text!r}")
    if not db_text.isdigit():
        raise BadInput(f"REDIS_DB from {source} is not a database number: {db_text!r}")
    password = values.get("REDIS_PASSWORD") or None
    return RedisSettings(
        host=values.get("REDIS_HOST") or "127.0.0.1",
        port=int(port_text),
        db=int(db_text),
        password=SecretStr(password) if password else None,
        tls=values.get("REDIS_ENABLE_TLS", "").lower() == "true",
        source=source,
    )


def tls_options(given: TlsOptions | None, environ: Mapping[str, str]) -> TlsOptions:
    """Command-line options first, then KEYOPS_TLS_* from the environment; files must exist."""
    values: dict[str, Any] = asdict(given) if given is not None else {}
    for name, env_name in TLS_ENV_NAMES.items():
        if values.get(name):
            continue
        raw = environ.get(env_name, "").strip()
        if not raw:
            continue
        if name == "skip_hostname_check":
            if raw.lower() not in ("1", "true", "yes", "0", "false", "no"):
                raise BadInput(f"{env_name} must be 1/true/yes or 0/false/no, not {raw!r}")
            values[name] = raw.lower() in ("1", "true", "yes")
        else:
            values[name] = Path(raw)
    options = TlsOptions(**values)
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(options, name)
        if path is not None and not path.is_file():
            raise BadInput(f"TLS {name.replace('_', ' ')} {path} does not exist or is not a file")
    if bool(options.cert_file) != bool(options.key_file):
        raise BadInput("a TLS client certificate needs its key, and a key its certificate")
    return options


def resolve_settings(
    redis_url: str | None = None,
    crs_env: Path | None = None,
    environ: Mapping[str, str] | None = None,
    tls: TlsOptions | None = None,
) -> RedisSettings:
    env = os.environ if environ is None else environ
    settings = _resolve_endpoint(redis_url, crs_env, env)
    options = tls_options(tls, env)
    if not options.given:
        return settings
    if not settings.tls:
        raise BadInput(
            f"TLS options were given but the connection from {settings.source} is not TLS: "
            "use a rediss:// URL or REDIS_ENABLE_TLS=true"
        )
    return replace(settings, tls_options=options)


def _resolve_endpoint(
    redis_url: str | None, crs_env: Path | None, env: Mapping[str, str]
) -> RedisSettings:
    if redis_url:
        return parse_redis_url(redis_url, "--redis-url")
    if env.get("KEYOPS_REDIS_URL"):
        return parse_redis_url(env["KEYOPS_REDIS_URL"], "KEYOPS_REDIS_URL")
    merged: dict[str, str] = {}
    sources: list[str] = []
    if crs_env is not None:
        merged.update(read_env_file(crs_env))
        sources.append(str(crs_env))
    from_process = {name: env[name] for name in CRS_SETTING_NAMES if env.get(name)}
    if from_process:
        merged.update(from_process)
        sources.append("environment")
    return settings_from_crs(merged, " + ".join(sources) or "defaults")


DEFAULT_TIMEZONE_OFFSET = 8
# parseInt's start: JavaScript's white space (not Python's `\s`, which takes '\x1c' too) and
# ASCII digits (Python's `\d` reads '٣' or '５' as digits; JavaScript gives NaN, so 8).
_LEADING_INT = re.compile(
    "^[\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*([+-]?[0-9]+)"
)


def crs_offset(raw: str | None) -> int:
    """The offset CRS uses for a TIMEZONE_OFFSET value: `parseInt(raw) || 8` (JavaScript's
    parseInt takes the leading digits: '5.5' is 5, '8h' is 8; none, or 0, gives 8)."""
    match = _LEADING_INT.match(raw or "")
    return (int(match.group(1)) if match else 0) or DEFAULT_TIMEZONE_OFFSET


def resolve_timezone_offset(
    given: str | None, crs_env: Path | None, environ: Mapping[str, str]
) -> tuple[int, str]:
    """CRS's time-zone offset and where it came from: the flag, else TIMEZONE_OFFSET from the
    environment, else from CRS's .env, else CRS's default. Read as CRS reads it
    (`parseInt(x) || 8`): `0`, `5.5` and `8h` mean 8, 5 and 8, as they do in CRS."""
    if given is not None:
        if _LEADING_INT.match(given) is None:
            raise BadInput(f"--timezone-offset must be a whole number of hours, not {given!r}")
        return _calendar_offset(given, f"--timezone-offset {given}", None), "--timezone-offset"
    if environ.get("TIMEZONE_OFFSET"):
        raw = environ["TIMEZONE_OFFSET"]
        return _calendar_offset(raw, f"TIMEZONE_OFFSET={raw}", "environment"), "environment"
    if crs_env is not None:
        value = read_env_file(crs_env).get("TIMEZONE_OFFSET")
        if value:
            where = str(crs_env)
            return _calendar_offset(value, f"TIMEZONE_OFFSET={value}", where), where
    return crs_offset(None), "default"


# A century either way: every date part of a usage key name stays a four-digit year.
MAX_OFFSET_HOURS = 24 * 366 * 100


def _calendar_offset(raw: str, what: str, source: str | None) -> int:
    """The offset CRS reads from `raw`, refused in one line when its "today" would fall past
    the calendar (a typo, a pasted timestamp): CRS would name its days after year 9999."""
    offset = crs_offset(raw)
    if abs(offset) > MAX_OFFSET_HOURS:
        raise BadInput(
            f"{what}{f' ({source})' if source else ''} is {offset:,} hours from UTC, which no usage key is "
            "named after: give CRS's TIMEZONE_OFFSET, whole hours such as 8 or -5"
        )
    return offset


def settings_from_args(args: Any) -> RedisSettings:
    """Settings from the command line's connection options (--redis-url, --crs-env, --tls-*)."""
    tls = TlsOptions(
        ca_file=getattr(args, "tls_ca_file", None),
        cert_file=getattr(args, "tls_cert_file", None),
        key_file=getattr(args, "tls_key_file", None),
        skip_hostname_check=getattr(args, "tls_skip_hostname_check", False),
    )
    settings = resolve_settings(args.redis_url, args.crs_env, tls=tls)
    offset, source = resolve_timezone_offset(
        getattr(args, "timezone_offset", None), args.crs_env, os.environ
    )
    return replace(settings, timezone_offset=offset, timezone_source=source)
