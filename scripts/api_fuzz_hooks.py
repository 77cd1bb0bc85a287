"""Schemathesis hooks for `scripts/api-fuzz`: sign every request and check problem documents.

The key file is named by NESTGRID_KEY_FILE (JSON `{"public_key": hex, "secret_key": hex}` as
written by `nestgrid keygen` and `nestgrid serve`). Each request is signed as the exchange
expects (see /docs): ed25519 over the domain tag's length (4 bytes, little-endian), the tag
`nestgrid-api-v1` and `METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP_MS\\nNONCE\\nSHA256_HEX(BODY)`.
Signing happens as a `requests` auth, on the prepared request, so it covers exactly the bytes
sent.

Random strings almost never name a real asset, area or open slot, so most generated tenders,
readings and grid events would stop at 422. With NESTGRID_URL set, three of four generated
bodies of those routes get a real asset (the key's own for tenders), area and slot instead,
so that the fuzzer's extreme prices, energies and curves reach the market.
"""

import hashlib
import json
import os
import random
import secrets
import struct
import time

import requests
import schemathesis
from nacl.signing import SigningKey

DOMAIN = b"nestgrid-api-v1"


class NestgridSignature(requests.auth.AuthBase):
    """Adds the four signing headers to a prepared request."""

    def __init__(self, key_file):
        with open(key_file) as file:
            key = json.load(file)
        self.signing_key = SigningKey(bytes.fromhex(key["secret_key"]))
        self.public_key = self.signing_key.verify_key.encode().hex()

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        timestamp = str(int(time.time() * 1000))
        nonce = secrets.token_hex(16)
        message = "\n".join(
            [request.method.upper(), request.path_url, timestamp, nonce, hashlib.sha256(body).hexdigest()]
        ).encode()
        signed = struct.pack("<I", len(DOMAIN)) + DOMAIN + message
        signature = self.signing_key.sign(signed).signature.hex()
        request.headers["x-nestgrid-key"] = self.public_key
        request.headers["x-nestgrid-timestamp"] = timestamp
        request.headers["x-nestgrid-nonce"] = nonce
        request.headers["x-nestgrid-signature"] = signature
        return request


SIGNER = NestgridSignature(os.environ["NESTGRID_KEY_FILE"]) if os.environ.get("NESTGRID_KEY_FILE") else None
if SIGNER:
    schemathesis.auth.set_from_requests(SIGNER)


def exchange(path, signed=False):
    answer = requests.get(os.environ["NESTGRID_URL"] + path, auth=SIGNER if signed else None, timeout=10)
    return answer.json() if answer.status_code == 200 else {}


# A generator of its own: the fuzzer's strategies must not draw from the global one.
RANDOM = random.Random()


def often():
    return RANDOM.random() < 0.75


@schemathesis.hook
def before_call(ctx, case, kwargs):
    """Points three of four generated tenders, readings and grid events at real things."""
    if not os.environ.get("NESTGRID_URL") or not isinstance(case.body, dict):
        return
    route = (case.operation.method.upper(), case.operation.path)
    if route == ("POST", "/v1/tenders"):
        own = exchange("/v1/participants/me", signed=True).get("assets") or []
        clock = exchange("/v1/clock")
        if own and isinstance(case.body.get("asset"), str) and often():
            case.body["asset"] = RANDOM.choice(own)
            if isinstance(case.body.get("area"), str) and often():
                case.body["area"] = case.body["asset"].rsplit("/", 1)[0]
        if isinstance(case.body.get("slot"), int) and often():
            first = (clock.get("trading") or {}).get("slot", clock.get("slots_closed", 0))
            case.body["slot"] = first + case.body["slot"] % 3
            if isinstance(case.body.get("until_slot"), int):
                case.body["until_slot"] = case.body["slot"] + case.body["until_slot"] % 4
    elif route == ("POST", "/v1/deliveries") and isinstance(case.body.get("readings"), list):
        assets = [asset["path"] for asset in exchange("/v1/assets").get("assets", [])]
        closed = exchange("/v1/clock").get("slots_closed", 0)
        for reading in case.body["readings"]:
            if isinstance(reading, dict) and isinstance(reading.get("asset"), str) and often():
                reading["asset"] = RANDOM.choice(assets)
            if isinstance(reading, dict) and isinstance(reading.get("slot"), int) and closed and often():
                reading["slot"] = reading["slot"] % closed
    elif route == ("POST", "/v1/grid/events") and isinstance(case.body.get("area"), str) and often():
        areas = [area["path"] for area in exchange("/v1/areas").get("areas", [])[1:]]
        case.body["area"] = RANDOM.choice(areas)


@schemathesis.check
def errors_are_problem_documents(ctx, response, case):
    """Every 4xx and 5xx answer is `application/problem+json` with type, title, status, detail."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(
            f"status {response.status_code} with content-type `{content_type}`, not application/problem+json"
        )
    try:
        problem = json.loads(response.content)
    except ValueError as error:
        raise AssertionError(f"status {response.status_code}: the problem document is not JSON: {error}")
    for field in ("type", "title", "status", "detail"):
        if field not in problem:
            raise AssertionError(f"status {response.status_code}: the problem document has no `{field}`")
    if problem["status"] != response.status_code:
        raise AssertionError(f"the problem document says status {problem['status']}, the answer is {response.status_code}")
    return None
