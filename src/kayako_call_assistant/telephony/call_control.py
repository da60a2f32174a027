"""Acting on a live call through Twilio's REST API with the ``twilio`` SDK (its aiohttp-based async client).

Every request is bounded by ``timeout`` here: the SDK's async client accepts a timeout but never hands it to
aiohttp, whose default is five minutes — a caller would wait in silence that long on a Twilio that accepts
the connection and never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from .transfer import transfer_twiml

log = structlog.get_logger(__name__)


class TwilioCallControl:
    """Implements ``ports.CallControl``: transfer by replacing the call's TwiML, hang up by completing it."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base_url: str | None,
        target: str,
        caller_id: str | None,
        workflow_sid: str | None,
        whisper_url_for: Callable[[int | None], str | None],
        timeout: float = 10.0,
    ) -> None:
        self._timeout = timeout
        self._http = AsyncTwilioHttpClient(timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            # Every URL of the REST domain is built from the domain's base_url: pointing it elsewhere (the
            # fake Twilio of tests and `make run`) is enough, and region/edge stay unset so nothing rewrites it.
            self._client.api.base_url = api_base_url.rstrip("/")
        self._target = target
        self._caller_id = caller_id
        self._workflow_sid = workflow_sid
        self._whisper_url_for = whisper_url_for

    async def transfer(self, external_call_id: str, *, case_id: int | None, announcement: str) -> bool:
        if not self._target:
            log.warning("telephony.transfer_unconfigured", call_sid=external_call_id, case_id=case_id)
            return False
        twiml = transfer_twiml(
            self._target,
            announcement=announcement,
            case_id=case_id,
            caller_id=self._caller_id,
            whisper_url=self._whisper_url_for(case_id),
            workflow_sid=self._workflow_sid,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.calls(external_call_id).update_async(twiml=twiml)
        except TwilioRestException as error:
            log.error(
                "telephony.transfer_failed",
                call_sid=external_call_id,
                status=error.status,
                twilio_code=error.code,
                error=error.msg,
            )
            return False
        except (TwilioException, OSError, TimeoutError) as error:
            log.error("telephony.transfer_failed", call_sid=external_call_id, error=type(error).__name__)
            return False
        log.info(
            "telephony.transfer_requested", call_sid=external_call_id, case_id=case_id, target=self._target
        )
        return True

    async def hang_up(self, external_call_id: str) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.calls(external_call_id).update_async(status="completed")
        except TwilioRestException as error:
            log.error(
                "telephony.hang_up_failed",
                call_sid=external_call_id,
                status=error.status,
                twilio_code=error.code,
            )
        except (TwilioException, OSError, TimeoutError) as error:
            log.error("telephony.hang_up_failed", call_sid=external_call_id, error=type(error).__name__)

    async def aclose(self) -> None:
        await self._http.close()
