#!/usr/bin/env bash
# A small virtualenv with an attestation verifier nobody on this team wrote: securesystemslib (the
# DSSE implementation of the in-toto project), pinned. The provenance tests check the envelopes
# `deploy` signs with it (scripts/verify-dsse.py). Built once per machine into the tools cache.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh

ensure_venv attest-venv 'securesystemslib[crypto]==1.6.0 cryptography==51.0.1' 'the attestation verifier virtualenv' \
  'import securesystemslib; print(f"attestation verifier: securesystemslib {securesystemslib.__version__}")' \
  'securesystemslib[crypto]==1.6.0' 'cryptography==51.0.1'
