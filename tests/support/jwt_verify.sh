# Verify one JWT (read from stdin) inside a service container, with exactly what the platform gave that container:
# JWT_ALGORITHM, then for HS256 the secrets JWT_SECRET / JWT_PREVIOUS_SECRET / JWT_NEXT_SECRET (or their *_FILE) with
# their key ids JWT_KID / JWT_PREVIOUS_KID / JWT_NEXT_KID, for ES256 the bundle JWT_PUBLIC_KEYS_FILE (`kid: <kid>`
# lines, each followed by its PEM public key). Prints `valid <kid>` (exit 0) or `invalid: <why>` (exit 1).
#
# It stands in for the JWT check a real service image makes, for the real-engine tests: the demo image has no
# JWT library, only POSIX sh, awk, od, base64 and openssl. It checks what a verifier must: the header's algorithm
# is the one configured (no `none`, no HS256 signed with a public key), the kid names a key this container holds,
# and the signature. Claims (exp, aud) are the services' business, not the keys'. Secrets stay off every command
# line: HMAC is computed from the key's bytes by the shell's own printf (RFC 2104), never `openssl -hmac <key>`.
set -eu

fail() {
    echo "invalid: $*"
    exit 1
}

b64url_decode() { # stdin: base64url without padding -> bytes
    tr -- '-_' '+/' | awk '{ n = length($0) % 4; if (n == 2) $0 = $0 "=="; else if (n == 3) $0 = $0 "="; print }' |
        base64 -d 2>/dev/null
}

b64url() { # stdin: bytes -> base64url without padding, one line
    base64 | tr -d '\n=' | tr -- '+/' '-_'
}

bytes_as_escapes() { # stdin: up to 64 bytes; $1: byte to XOR each with -> 64 bytes (zero padded) as printf escapes
    od -An -v -tu1 | awk -v x="$1" '
        function bxor(a, b,   r, bit) {
            r = 0
            for (bit = 1; bit < 256; bit *= 2) if (int(a / bit) % 2 != int(b / bit) % 2) r += bit
            return r
        }
        { for (i = 1; i <= NF; i++) k[n++] = $i }
        END { for (i = 0; i < 64; i++) printf "\\%03o", bxor(i < n ? k[i] : 0, x) }'
}

key_bytes() { # $1: secret -> its HMAC-SHA256 key block input (hashed first when longer than the 64-byte block)
    if [ "${#1}" -gt 64 ]; then printf '%s' "$1" | openssl dgst -sha256 -binary; else printf '%s' "$1"; fi
}

hmac_sha256_b64url() { # $1: secret, $2: message
    inner=$(key_bytes "$1" | bytes_as_escapes 54)
    outer=$(key_bytes "$1" | bytes_as_escapes 92)
    # shellcheck disable=SC2059 # the escapes are the format on purpose: printf turns them into the key's bytes
    { printf "$outer"; { printf "$inner"; printf '%s' "$2"; } | openssl dgst -sha256 -binary; } |
        openssl dgst -sha256 -binary | b64url
}

secret_of() { # $1: variable name (JWT_SECRET, ...) -> its value, from the variable or the file its _FILE names
    eval "value=\${$1-}"
    eval "file=\${$1_FILE-}"
    if [ -n "$value" ]; then printf '%s' "$value"; elif [ -n "$file" ]; then cat "$file"; fi
}

raw_to_der() { # stdin: the 64-byte JWS signature r||s -> the DER ECDSA-Sig-Value openssl verifies
    od -An -v -tu1 | awk '
        function integer(off,   start, i, out, len) {
            start = off
            while (start < off + 31 && b[start] == 0) start++
            len = off + 32 - start
            out = ""
            if (b[start] >= 128) { len++; out = "\\000" }
            for (i = start; i < off + 32; i++) out = out sprintf("\\%03o", b[i])
            return sprintf("\\002\\%03o", len) out
        }
        { for (i = 1; i <= NF; i++) b[n++] = $i }
        END {
            if (n != 64) exit 1
            r = integer(0); s = integer(32)
            # each escape is 4 characters; the SEQUENCE holds both INTEGERs with their 2-byte headers
            printf "\\060\\%03o%s%s", (length(r) + length(s)) / 4, r, s
        }'
}

token=$(cat)
case "$token" in *.*.*) ;; *) fail "not a compact JWS" ;; esac
header_b64=${token%%.*}
rest=${token#*.}
payload_b64=${rest%%.*}
signature_b64=${rest#*.}
signing_input="$header_b64.$payload_b64"
header=$(printf '%s' "$header_b64" | b64url_decode) || fail "header is not base64url"
alg=$(printf '%s' "$header" | sed -n 's/.*"alg"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
kid=$(printf '%s' "$header" | sed -n 's/.*"kid"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ "$alg" = "${JWT_ALGORITHM:-}" ] || fail "algorithm '$alg', this service accepts '${JWT_ALGORITHM:-}'"
[ -n "$kid" ] || fail "no kid in the header"

case "$alg" in
HS256)
    secret=""
    for slot in "" PREVIOUS_ NEXT_; do
        eval "slot_kid=\${JWT_${slot}KID-}"
        if [ -n "$slot_kid" ] && [ "$slot_kid" = "$kid" ]; then secret=$(secret_of "JWT_${slot}SECRET"); fi
    done
    [ -n "$secret" ] || fail "unknown kid '$kid'"
    [ "$(hmac_sha256_b64url "$secret" "$signing_input")" = "$signature_b64" ] || fail "bad signature for kid '$kid'"
    ;;
ES256)
    bundle=${JWT_PUBLIC_KEYS_FILE:?no JWT_PUBLIC_KEYS_FILE}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    awk -v want="kid: $kid" '$0 == want { on = 1; next } /^kid: / { on = 0 } on' "$bundle" >"$work/key.pem"
    [ -s "$work/key.pem" ] || fail "unknown kid '$kid'"
    printf '%s' "$signature_b64" | b64url_decode >"$work/sig.raw" || fail "signature is not base64url"
    # shellcheck disable=SC2059
    printf "$(raw_to_der <"$work/sig.raw")" >"$work/sig.der" || fail "signature is not 64 bytes"
    printf '%s' "$signing_input" |
        openssl dgst -sha256 -verify "$work/key.pem" -signature "$work/sig.der" >/dev/null 2>&1 ||
        fail "bad signature for kid '$kid'"
    ;;
*) fail "algorithm '$alg' is not supported" ;;
esac
echo "valid $kid"
