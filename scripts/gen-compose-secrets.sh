#!/usr/bin/env bash
# Write the three secrets docker-compose.yml mounts, once, into ./secrets/ (gitignored).
# Each is 32 random bytes, base64-encoded. Existing files are left alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for name in master_key key_pepper jwt_secret; do
    if [[ -e "$dir/$name" ]]; then
        echo "kept    secrets/$name"
        continue
    fi
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$dir/$name")
    # Compose (outside swarm) bind-mounts secret files as they are, so the
    # container's non-root user (uid 10001) must be able to read them.
    chmod 644 "$dir/$name"
    echo "created secrets/$name"
done
