"""Verifies a DSSE envelope with securesystemslib, the in-toto project's implementation.

usage: verify-dsse.py <envelope.json> <public-key.pem> <keyid>
Exit 0 and the statement's subject when a signature by that key verifies; exit 1 with the reason when not.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main() -> int:
    envelope_path, key_path, keyid = sys.argv[1:4]
    with open(envelope_path, encoding="utf-8") as handle:
        envelope = Envelope.from_dict(json.load(handle))
    with open(key_path, "rb") as handle:
        key = SSlibKey.from_crypto(load_pem_public_key(handle.read()), keyid=keyid, scheme="ed25519")
    try:
        envelope.verify([key], 1)
    except Exception as error:  # securesystemslib raises VerificationError (and others on malformed input)
        print(f"not verified: {error}", file=sys.stderr)
        return 1
    statement = json.loads(envelope.payload)
    print(json.dumps({"verified": True, "payloadType": envelope.payload_type, "subject": statement["subject"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
