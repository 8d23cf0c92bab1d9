#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine; does nothing when it is there.
set -euo pipefail
missing=()
for package in libpq-dev libcurl4-openssl-dev postgresql postgresql-contrib; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
    echo "installing: moto[server]" >&2
    python3 -m pip install -q "moto[server]"
fi
command -v aws >/dev/null 2>&1 || python3 -m pip install -q awscli
# The reference implementations the parity tests and benchmarks run beside ours.
python3 -c "import surprise" >/dev/null 2>&1 || python3 -m pip install -q scikit-surprise
python3 -c "import scipy" >/dev/null 2>&1 || python3 -m pip install -q scipy
# The deployment template's checks.
command -v cfn-lint >/dev/null 2>&1 || python3 -m pip install -q cfn-lint
python3 -c "import samtranslator" >/dev/null 2>&1 || python3 -m pip install -q aws-sam-translator
# The API description's and the dashboard's checks; the UI's browser test (Tests/ui/check-ui.py).
python3 -c "import openapi_spec_validator, yaml" >/dev/null 2>&1 || python3 -m pip install -q openapi-spec-validator pyyaml
python3 -c "import selenium" >/dev/null 2>&1 || python3 -m pip install -q selenium
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >/dev/null
fi
