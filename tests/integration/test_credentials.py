"""Credentials against real redis-servers set up by the test: TLS with a CA made here (server
verification, client certificates, a certificate for another host), and ACL users."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.integration.test_cli import assert_one_line_error, keyops
from tests.support.dump import crs_fixture, load_dump
from tests.support.redis_server import RedisServer, start_redis_server
from tests.support.tls import TlsFiles, make_tls_files, tls_server_args


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def _tls_server(files: TlsFiles, **options: bool) -> Iterator[RedisServer]:
    server = start_redis_server(tls_args=lambda port: tls_server_args(files, port, **options))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_server(tls_files: TlsFiles) -> Iterator[RedisServer]:
    yield from _tls_server(tls_files, require_client_cert=False)


@pytest.fixture(scope="module")
def mtls_server(tls_files: TlsFiles) -> Iterator[RedisServer]:
    yield from _tls_server(tls_files, require_client_cert=True)


@pytest.fixture(scope="module")
def other_host_server(tls_files: TlsFiles) -> Iterator[RedisServer]:
    yield from _tls_server(tls_files, require_client_cert=False, other_host=True)


async def _load_crs(server: RedisServer, files: TlsFiles) -> None:
    client = aioredis.Redis(
        port=server.port, ssl=True, ssl_ca_certs=str(files.ca_cert), ssl_check_hostname=False,
        ssl_certfile=str(files.client_cert), ssl_keyfile=str(files.client_key),
        ssl_cert_reqs=ssl.CERT_REQUIRED, decode_responses=True,
    )  # fmt: skip
    await client.flushall()
    await load_dump(client, crs_fixture())
    await client.aclose()


def _info(server: RedisServer, *options: str) -> dict[str, object]:
    result = keyops(
        "info", "--json", "--redis-url", f"rediss://127.0.0.1:{server.port}/0", *options
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


async def test_tls_with_a_private_ca(tls_server: RedisServer, tls_files: TlsFiles) -> None:
    await _load_crs(tls_server, tls_files)
    info = _info(tls_server, "--tls-ca-file", str(tls_files.ca_cert))
    assert info["endpoint"] == f"rediss://127.0.0.1:{tls_server.port}/0"
    # Without the CA the server's certificate is not trusted: one line, no traceback.
    result = keyops("info", "--redis-url", f"rediss://127.0.0.1:{tls_server.port}/0")
    assert_one_line_error(result, 1, "TLS handshake")
    # The CA may come from the environment too.
    result = keyops(
        "info", "--redis-url", f"rediss://127.0.0.1:{tls_server.port}/0",
        env={"KEYOPS_TLS_CA_FILE": str(tls_files.ca_cert)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


async def test_tls_client_certificates(mtls_server: RedisServer, tls_files: TlsFiles) -> None:
    await _load_crs(mtls_server, tls_files)
    url = f"rediss://127.0.0.1:{mtls_server.port}/0"
    refused = keyops("info", "--redis-url", url, "--tls-ca-file", str(tls_files.ca_cert))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    _info(
        mtls_server, "--tls-ca-file", str(tls_files.ca_cert),
        "--tls-cert-file", str(tls_files.client_cert), "--tls-key-file", str(tls_files.client_key),
    )  # fmt: skip


async def test_a_certificate_for_another_host_needs_the_hostname_check_off(
    other_host_server: RedisServer, tls_files: TlsFiles
) -> None:
    await _load_crs(other_host_server, tls_files)
    url = f"rediss://127.0.0.1:{other_host_server.port}/0"
    result = keyops("info", "--redis-url", url, "--tls-ca-file", str(tls_files.ca_cert))
    assert_one_line_error(result, 1, "TLS handshake")
    _info(other_host_server, "--tls-ca-file", str(tls_files.ca_cert), "--tls-skip-hostname-check")


def test_rediss_against_a_plain_server_says_so(redis_server: RedisServer) -> None:
    # A plain server never answers the TLS hello; keyops must not call it unreachable.
    result = keyops("info", "--redis-url", f"rediss://127.0.0.1:{redis_server.port}/0")
    assert_one_line_error(result, 1, "answers without TLS: use a redis:// URL")


def test_redis_against_a_tls_server_says_so(tls_server: RedisServer) -> None:
    result = keyops("info", "--redis-url", f"redis://127.0.0.1:{tls_server.port}/0")
    assert_one_line_error(result, 1, "if the server only speaks TLS, use a rediss:// URL")


def test_tls_options_are_checked_before_connecting(tls_files: TlsFiles, tmp_path: Path) -> None:
    result = keyops(
        "info", "--redis-url", "redis://127.0.0.1:1/0", "--tls-ca-file", str(tls_files.ca_cert)
    )
    assert_one_line_error(result, 2, "not TLS: use a rediss:// URL")
    result = keyops(
        "info", "--redis-url", "rediss://127.0.0.1:1/0", "--tls-ca-file", str(tmp_path / "nope.crt")
    )
    assert_one_line_error(result, 2, "does not exist")
    result = keyops(
        "info",
        "--redis-url",
        "rediss://127.0.0.1:1/0",
        "--tls-cert-file",
        str(tls_files.client_cert),
    )
    assert_one_line_error(result, 2, "needs its key")


# -- ACL users -----------------------------------------------------------------------------------


@pytest.fixture
async def acl_server(redis_server: RedisServer) -> AsyncIterator[RedisServer]:
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    await client.flushall()
    await load_dump(client, crs_fixture())
    await client.execute_command(
        "ACL", "SETUSER", "ops", "reset", "on", ">ops-pass-1", "~*", "&*", "+@all"
    )
    yield redis_server
    await client.execute_command("ACL", "DELUSER", "ops")
    await client.aclose()


async def test_an_acl_user_is_named_in_the_audit(acl_server: RedisServer) -> None:
    url = f"redis://ops:ops-pass-1@127.0.0.1:{acl_server.port}/0"
    result = keyops(
        "tags", "add", "acl-made", "--where", "tag:team-a", "--yes", "--json", "--redis-url", url
    )
    assert result.returncode == 0, result.stderr
    op_id = json.loads(result.stdout)["op_id"]
    shown = keyops("ops", "show", op_id, "--json", "--redis-url", url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["op"]["operator"]["redis_user"] == "ops"
    assert "ops-pass-1" not in result.stdout + result.stderr + shown.stdout


def test_a_wrong_acl_password_is_one_line_and_never_echoed(acl_server: RedisServer) -> None:
    result = keyops("info", "--redis-url", f"redis://ops:not-it-9@127.0.0.1:{acl_server.port}/0")
    assert_one_line_error(result, 1, "rejected the credentials")
    assert "not-it-9" not in result.stderr
