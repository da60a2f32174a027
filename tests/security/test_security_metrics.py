"""`/metrics` is behind KCA_METRICS_TOKEN; with no token it is open in development only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
from pydantic import SecretStr

from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import call_runtime


async def test_metrics_need_the_bearer_token(tmp_path: Path) -> None:
    config = MockConfig()
    async with serve_in_background(create_mock_app(config)) as mock:
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}",
            data_dir=tmp_path,
            environment="development",
        )
        async with call_runtime(settings) as runtime:
            open_dev = dataclasses.replace(runtime, settings=settings)
            with_token = dataclasses.replace(
                runtime, settings=settings.model_copy(update={"metrics_token": SecretStr("m-token-1")})
            )
            production = dataclasses.replace(
                runtime, settings=settings.model_copy(update={"environment": "production"})
            )
            async with (
                serve_in_background(create_app(open_dev)) as base,
                httpx.AsyncClient(base_url=base) as web,
            ):
                assert (await web.get("/metrics")).status_code == 200
            async with (
                serve_in_background(create_app(with_token)) as base,
                httpx.AsyncClient(base_url=base) as web,
            ):
                assert (await web.get("/metrics")).status_code == 401
                wrong = await web.get("/metrics", headers={"Authorization": "Bearer nope"})
                assert wrong.status_code == 401
                right = await web.get("/metrics", headers={"Authorization": "Bearer m-token-1"})
                assert right.status_code == 200 and "kca_" in right.text
            async with (
                serve_in_background(create_app(production)) as base,
                httpx.AsyncClient(base_url=base) as web,
            ):
                refused = await web.get("/metrics", headers={"Authorization": "Bearer anything"})
                assert refused.status_code == 401
