"""`KCA_TLS_CERT`/`KCA_TLS_KEY` make the server speak HTTPS (a certificate from a throwaway test CA)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import trustme
import uvicorn
from fastapi import FastAPI

from kayako_call_assistant.cli.serve import server_config
from kayako_call_assistant.settings import Settings
from kayako_call_assistant.web.health import create_health_router


async def test_the_server_answers_over_tls_with_the_configured_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    app = FastAPI()
    app.include_router(create_health_router({}))
    settings = Settings(host="127.0.0.1", port=0, tls_cert=cert_file, tls_key=key_file)
    server = uvicorn.Server(server_config(settings, app))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca_file))) as client:
            response = await client.get(f"https://127.0.0.1:{port}/healthz")
        assert response.status_code == 200 and response.url.scheme == "https"
        async with httpx.AsyncClient() as plain:
            try:
                await plain.get(f"http://127.0.0.1:{port}/healthz")
                plain_worked = True
            except httpx.HTTPError:
                plain_worked = False
        assert not plain_worked  # no plain HTTP on the TLS port
    finally:
        server.should_exit = True
        await task
