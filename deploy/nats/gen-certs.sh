#!/usr/bin/env bash
# Makes a throwaway CA and certificates to TRY TLS with the ccm-ledger
# cluster: one certificate per node (server and client use, valid for
# ccm-nats-N, localhost and 127.0.0.1, plus any extra names given), and one
# client certificate for mutual TLS. Not for production: use your
# organisation's CA there (deploy/README.md, "TLS").
#
#   deploy/nats/gen-certs.sh [OUTDIR] [EXTRA_NAME...]
#
# OUTDIR defaults to ./ccm-tls. Keys are written with mode 0600. The CA key
# is kept in OUTDIR so that more certificates can be signed; delete it when
# done trying. Then, for node N, set in the environment of nats-server:
#   CCM_NATS_TLS_CERT=OUTDIR/ccm-nats-N-cert.pem
#   CCM_NATS_TLS_KEY=OUTDIR/ccm-nats-N-key.pem
#   CCM_NATS_TLS_CA=OUTDIR/ca.pem
# and give clients --tls-ca OUTDIR/ca.pem (and, for mutual TLS,
# --tls-cert OUTDIR/client-cert.pem --tls-key OUTDIR/client-key.pem).
set -euo pipefail

out=${1:-ccm-tls}
shift || true
extra=("$@")
days=30

mkdir -p "$out"
umask 077

if [[ ! -f "$out/ca.pem" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/ca-key.pem" -out "$out/ca.pem" -days "$days" \
    -subj "/O=ccm-ledger trial/CN=ccm-ledger trial CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# issue NAME SAN
issue() {
  local name=$1 san=$2
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$out/$name-key.pem" -out "$out/$name.csr" \
    -subj "/O=ccm-ledger trial/CN=$name" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" \
    -CAcreateserial -out "$out/$name-cert.pem" -days "$days" \
    -extfile <(printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth,clientAuth" \
      "subjectAltName=$san") 2>/dev/null
  rm -f "$out/$name.csr"
}

for n in 1 2 3; do
  san="DNS:ccm-nats-$n,DNS:localhost,IP:127.0.0.1"
  for x in "${extra[@]}"; do
    if [[ $x =~ ^[0-9.]+$ || $x == *:* ]]; then san+=",IP:$x"; else san+=",DNS:$x"; fi
  done
  issue "ccm-nats-$n" "$san"
done
issue client "DNS:ccm-client"

chmod 0644 "$out"/*-cert.pem "$out/ca.pem"
echo "certificates in $out:"
ls -1 "$out"
