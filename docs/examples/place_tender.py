#!/usr/bin/env python3
"""Register a participant with a nestgrid exchange, place a tender and list the tenders.

    pip install requests PyNaCl
    python3 place_tender.py http://127.0.0.1:8080 exchange/keys/operator.key me.key

The operator's key (written by `nestgrid serve` into DATA/keys/operator.key) registers the
participant's key (`nestgrid keygen --out me.key`) for an external asset; the participant then
buys energy for the next slot open for tenders and lists its tenders. See /docs for the API.
"""

import argparse
import hashlib
import json
import secrets
import struct
import sys
import time

import requests
from nacl.signing import SigningKey

DOMAIN = b"nestgrid-api-v1"


class Signer:
    """Signs requests with one key: ed25519 over the domain tag and the request's summary."""

    def __init__(self, key_file):
        with open(key_file) as file:
            self.key = SigningKey(bytes.fromhex(json.load(file)["secret_key"]))
        self.public_key = self.key.verify_key.encode().hex()

    def headers(self, method, path_with_query, body):
        timestamp = str(int(time.time() * 1000))
        nonce = secrets.token_hex(16)
        message = f"{method}\n{path_with_query}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
        signed = struct.pack("<I", len(DOMAIN)) + DOMAIN + message.encode()
        return {
            "x-nestgrid-key": self.public_key,
            "x-nestgrid-timestamp": timestamp,
            "x-nestgrid-nonce": nonce,
            "x-nestgrid-signature": self.key.sign(signed).signature.hex(),
        }


def call(server, signer, method, path, payload=None):
    """Sends a request (signed when a signer is given); returns (status, JSON body)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = {"content-type": "application/json"} if payload is not None else {}
    if signer:
        headers.update(signer.headers(method, path, body))
    response = requests.request(method, server + path, data=body, headers=headers, timeout=10)
    return response.status_code, response.json()


def next_open_slot(clock):
    """The slot to tender for: the one trading now, or the next if its window is nearly over."""
    trading = clock["trading"]
    if trading is None:  # between two windows: the next slot opens soon
        return clock["slots_closed"]
    ticks_left = clock["ticks_per_slot"] - trading["next_tick"]
    return trading["slot"] + 1 if ticks_left <= max(2, clock["ticks_per_slot"] // 10) else trading["slot"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", help="the exchange's URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("operator_key", help="the operator's key file")
    parser.add_argument("participant_key", help="the new participant's key file (nestgrid keygen)")
    parser.add_argument("--asset", default="Exchange/Street/Miller house/Heat pump", help="an external asset's path")
    parser.add_argument("--name", default="example participant", help="the participant's name")
    parser.add_argument("--side", choices=["buy", "sell"], default="buy")
    parser.add_argument("--energy", default="0.5", help="energy, kWh (decimal)")
    parser.add_argument("--price", default="0.30", help="limit price, currency per kWh (decimal)")
    args = parser.parse_args()
    server = args.server.rstrip("/")
    operator, participant = Signer(args.operator_key), Signer(args.participant_key)

    registration = {"public_key": participant.public_key, "name": args.name, "assets": [args.asset]}
    status, answer = call(server, operator, "POST", "/v1/participants", registration)
    if status == 201:
        print(f"registered {answer['public_key'][:16]}… for {', '.join(answer['assets'])}")
    elif status == 409 and answer["title"] == "already registered":
        print("the participant is registered already")
    else:
        sys.exit(f"registering failed: {status} {answer['title']}: {answer['detail']}")

    status, clock = call(server, None, "GET", "/v1/clock")
    if clock["finished"]:
        sys.exit("the exchange's scenario is over: no slot is open for tenders")
    slot = next_open_slot(clock)
    tender = {"asset": args.asset, "side": args.side, "slot": slot, "energy_kwh": args.energy, "price": args.price}
    status, answer = call(server, participant, "POST", "/v1/tenders", tender)
    if status != 201:
        sys.exit(f"placing the tender failed: {status} {answer['title']}: {answer['detail']}")
    for placed in answer["tenders"]:
        print(f"placed tender {placed['id']}: {placed['side']} {placed['energy_kwh']} kWh "
              f"at {placed['price']} {clock['currency']}/kWh for slot {placed['slot']} ({placed['status']})")

    status, answer = call(server, participant, "GET", "/v1/tenders")
    if status != 200:
        sys.exit(f"listing the tenders failed: {status} {answer['title']}: {answer['detail']}")
    print(f"{len(answer['tenders'])} tender(s):")
    for listed in answer["tenders"]:
        print(f"  {listed['id']:>6}  slot {listed['slot']:>3}  {listed['side']:4}  {listed['energy_kwh']:>8} kWh"
              f"  filled {listed['filled_kwh']:>8} kWh  {listed['status']}")


if __name__ == "__main__":
    main()
