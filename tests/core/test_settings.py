from __future__ import annotations

from pathlib import Path

import pytest

from keyops.core.errors import BadInput
from keyops.core.settings import resolve_settings


def test_url_flag_wins_and_its_password_stays_secret() -> None:
    settings = resolve_settings(
        "rediss://ops:s3cr%40t@redis.internal:6380/4", environ={"KEYOPS_REDIS_URL": "redis://other"}
    )
    assert (settings.host, settings.port, settings.db, settings.tls) == (
        "redis.internal",
        6380,
        4,
        True,
    )
    assert settings.username == "ops" and settings.password is not None
    assert settings.password.get_secret_value() == "s3cr@t"
    assert "s3cr" not in repr(settings) and "s3cr" not in settings.endpoint


def test_keyops_url_from_the_environment() -> None:
    settings = resolve_settings(
        environ={"KEYOPS_REDIS_URL": "redis://10.0.0.5:7000/2", "REDIS_HOST": "x"}
    )
    assert (settings.host, settings.port, settings.db) == ("10.0.0.5", 7000, 2)


def test_crs_env_file_and_environment_like_crs_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# CRS settings\nREDIS_HOST=crs-redis\nexport REDIS_PORT=6390\nREDIS_PASSWORD='pa ss'\n"
        "REDIS_DB=3 # comment\nREDIS_ENABLE_TLS=true\n"
    )
    settings = resolve_settings(crs_env=env_file, environ={"REDIS_DB": "5"})
    # The environment beats the file, as CRS's dotenv loading does.
    assert (settings.host, settings.port, settings.db, settings.tls) == ("crs-redis", 6390, 5, True)
    assert settings.password is not None and settings.password.get_secret_value() == "pa ss"


def test_defaults_are_crs_defaults() -> None:
    settings = resolve_settings(environ={})
    assert (settings.host, settings.port, settings.db, settings.password) == (
        "127.0.0.1",
        6379,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:6379", "scheme must be redis:// or rediss://"),
        ("redis://localhost:notaport", "bad Redis URL"),
        ("redis://localhost:6379/abc", "database 'abc' is not a number"),
        ("redis://:6379", "names no host"),
    ],
)
def test_bad_urls_get_one_specific_message(url: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        resolve_settings(url, environ={})


def test_bad_crs_port_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("REDIS_PORT=sixty\n")
    with pytest.raises(BadInput, match="REDIS_PORT"):
        resolve_settings(crs_env=env_file, environ={})


def test_missing_env_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read CRS env file"):
        resolve_settings(crs_env=tmp_path / "nope.env", environ={})


def test_the_log_rotates_and_masks_the_password(tmp_path: Path) -> None:
    import logging
    from logging.handlers import RotatingFileHandler

    from keyops.core.logs import LOGGER_NAME, register_secret, setup_file_logging

    path = setup_file_logging(tmp_path / "state" / "keyops.log")
    assert path is not None and path.parent.is_dir()
    logger = logging.getLogger(LOGGER_NAME)
    handler = next(h for h in logger.handlers if isinstance(h, RotatingFileHandler))
    try:
        register_secret("hunter2-long-password")
        logging.getLogger("keyops.connection").info(
            "url was redis://:%s@h", "hunter2-long-password"
        )
        handler.flush()
        text = path.read_text()
        assert "redis://:***@h" in text and "hunter2" not in text
        assert handler.maxBytes > 0 and handler.backupCount >= 3  # it rotates
    finally:
        logger.removeHandler(handler)
        handler.close()
