"""`/healthz` and `/readyz` of the assembled app: database, Redis (configured) and Kayako checks."""

from __future__ import annotations

from pathlib import Path

import httpx

from kayako_call_assistant.kayako_mock.app import create_app as create_mock_app
from kayako_call_assistant.kayako_mock.config import MockConfig
from kayako_call_assistant.servers import serve_in_background
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.app import create_app
from kayako_call_assistant.wiring import call_runtime


async def test_readiness_names_the_failing_dependency(tmp_path: Path, redis_url: str) -> None:
    config = MockConfig(strict=True)
    async with (
        serve_in_background(create_mock_app(config)) as mock,
        httpx.AsyncClient(base_url=mock) as admin,
    ):
        settings = Settings(
            kayako_base_url=f"{mock}/api/v1",
            kayako_email=config.agent_email,
            kayako_password=config.agent_password,  # type: ignore[arg-type]
            kayako_max_retries=0,
            redis_url=redis_url,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'health.db'}",
            data_dir=tmp_path,
        )
        async with (
            call_runtime(settings) as runtime,
            serve_in_background(create_app(runtime)) as base,
            httpx.AsyncClient(base_url=base) as web,
        ):
            assert (await web.get("/healthz")).json() == {"status": "ok"}
            ready = await web.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": "ok", "kayako": "ok", "redis": "ok"}

            await admin.put("/_mock/faults", json={"down": True})
            # Probes read Kayako's state from the background check and stay ready through its outage
            # (calls go on: answers from the cached help center, cases in the outbox).
            probe = await web.get("/readyz")
            assert probe.status_code == 200
            assert probe.json()["checks"]["kayako"] == "ok"  # checked less than 30 s ago
            down = await web.get("/readyz", params={"strict": "1"})  # operators ask for a fresh check
            assert down.status_code == 503
            assert down.json()["checks"]["kayako"].startswith("failed")
            assert down.json()["checks"]["database"] == "ok"
            after = await web.get("/readyz")
            assert after.status_code == 200 and after.json()["checks"]["kayako"].startswith("failed")
            assert (await web.get("/healthz")).status_code == 200
