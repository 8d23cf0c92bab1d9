#!/usr/bin/env bash
# Installs what building and running need on a fresh Debian machine (the C libraries and the
# PostgreSQL server, and acl so the embedded server can enter a private --data-dir); does nothing
# when it is there. Tests/support/install-test-deps.sh adds the
# test tools.
set -euo pipefail
missing=()
for package in libpq-dev libcurl4-openssl-dev zlib1g-dev libssl-dev postgresql postgresql-contrib acl; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
