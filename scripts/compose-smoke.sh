#!/usr/bin/env bash
# Smoke test of the compose stack: a simulated Twilio call (signed webhook, media stream over WebSocket,
# spoken question) placed through Caddy's TLS and load balancing, then the call's record read back.
#
#   PUBLIC_DOMAIN=kca.localhost docker compose -f deploy/compose/compose.yaml up -d --build
#   scripts/compose-smoke.sh
#
# With a *.localhost domain Caddy signs the certificate with its internal CA; the caller trusts that CA
# (read from Caddy's data volume). The caller runs in a one-off container of the assistant's image on the
# stack's network, where the public name resolves to Caddy.
set -euo pipefail
compose=(docker compose -f "$(dirname "$0")/../deploy/compose/compose.yaml")
domain=${PUBLIC_DOMAIN:-localhost}
question=${1:-"I forgot my password and cannot log in"}

echo "smoke: waiting for https://$domain/readyz through Caddy"
for _ in $(seq 1 120); do
  if "${compose[@]}" exec -T caddy wget -q --no-check-certificate -O /dev/null "https://$domain/readyz"; then
    break
  fi
  sleep 2
done

echo "smoke: placing a call through https://$domain"
"${compose[@]}" run --rm --no-deps -T \
  -v kca_caddy-data:/caddy-data:ro \
  -e SSL_CERT_FILE=/caddy-data/caddy/pki/authorities/local/root.crt \
  assistant-1 call --url "https://$domain" --say "$question" --json | tee /tmp/kca-smoke.json

python3 - <<'PY'
import json, sys
result = json.load(open("/tmp/kca-smoke.json"))
assert result["outcome"] != "failed", result
assert any(turn["speaker"] == "assistant" for turn in result["transcript"][1:]), "no answer after the greeting"
print(f"smoke: ok, outcome {result['outcome']}, {result['assistant_audio_seconds']} s of assistant audio")
PY
