#!/usr/bin/env bash
# Makes a throwaway test PKI for TLS (-Z) in DIR with the openssl CLI (EC P-256, 10 years):
#   ca.crt/ca.key           test CA
#   server.crt/server.key   server certificate for localhost and 127.0.0.1, signed by ca
#   client.crt/client.key   client certificate (CN=client), signed by ca
#   ca2.crt, server2.crt/server2.key   a second CA and a server certificate it signed
#                           (certificate rotation tests)
#   rogue.crt, other.crt/other.key     a CA nobody trusts and a client certificate from it
# Used by tests/tls.rs, tests/python/test_tls.py, the TLS benchmark and README.md.
# For tests only: the keys are unencrypted.
set -euo pipefail
dir=${1:?usage: tls-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" -out "$1.crt" 2>/dev/null
}
leaf() { # name CN ca
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n' > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -sha256 \
    -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "ferrocache test CA"
ca ca2 "ferrocache test CA 2"
ca rogue "untrusted CA"
leaf server server ca
leaf client client ca
leaf server2 server2 ca2
leaf other other rogue
rm -f ./*.srl
