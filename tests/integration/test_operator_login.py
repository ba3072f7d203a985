"""kopf logs in with the daemon's own credentials, read afresh each time (tokens rotate)."""

from __future__ import annotations

from kubenexus.shell.client import load_configuration
from kubenexus.shell.operator import connection_info


async def test_connection_info_carries_the_bearer_token_with_or_without_a_prefix() -> None:
    configuration = await load_configuration(None, host="https://10.0.0.1:6443")
    configuration.api_key = {"BearerToken": "Bearer abc"}
    info = await connection_info(configuration)
    assert (info.server, info.scheme, info.token) == ("https://10.0.0.1:6443", "Bearer", "abc")
    configuration.api_key = {"BearerToken": "xyz"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    info = await connection_info(configuration)
    assert (info.scheme, info.token) == ("Bearer", "xyz")
    configuration.api_key = {}
    info = await connection_info(configuration)
    assert (info.scheme, info.token) == (None, None)


async def test_a_rotated_token_is_picked_up() -> None:
    configuration = await load_configuration(None, host="https://10.0.0.1:6443")
    tokens = iter(["first", "second"])

    def refresh(config: object) -> None:
        configuration.api_key = {"BearerToken": f"Bearer {next(tokens)}"}

    configuration.refresh_api_key_hook = refresh
    assert (await connection_info(configuration)).token == "first"
    assert (await connection_info(configuration)).token == "second"
