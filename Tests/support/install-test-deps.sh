#!/usr/bin/env bash
# Installs what the tests and benchmarks need on top of install-deps.sh: real S3 and AWS clients
# (moto_server, awscli, boto3), the reference implementations measured beside ours (Surprise,
# scipy), the template/API/metrics/dashboard checkers, a browser for the UI test, and MLflow.
set -euo pipefail
bash "$(dirname "$0")/install-deps.sh"
apt_missing=()
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || apt_missing+=(wrk)
if ((${#apt_missing[@]})); then
    echo "installing: ${apt_missing[*]}" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # Debian's prometheus package only brings promtool here: no service is started without systemd.
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
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
# A real tracking server and its client for the MLflow mirror's tests.
command -v mlflow >/dev/null 2>&1 && python3 -c "import mlflow" >/dev/null 2>&1 || python3 -m pip install -q mlflow
