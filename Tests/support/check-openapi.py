#!/usr/bin/env python3
"""Checks local-runner/ui/openapi.json: a valid OpenAPI 3.1 document (openapi-spec-validator),
written by local-runner/openapi.py as it stands, and describing exactly the template's routes
plus the runner's own endpoints, no more and no fewer.

    python3 Tests/support/check-openapi.py [template/template.yaml] [local-runner/ui/openapi.json]
"""
import json
import os
import subprocess
import sys

import yaml
from openapi_spec_validator import validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "template", "template.yaml")
SPEC = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "local-runner", "ui", "openapi.json")

# What the runner answers itself (local-runner/Sources/RunnerKit), beside the template's routes.
RUNNER_ROUTES = {
    "GET /health", "GET /metrics", "GET /schedules", "GET /schedules/{name}/runs", "POST /schedules/{name}/run",
    "POST /2015-03-31/functions/{name}/invocations",
}


class TemplateLoader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !Sub, !GetAtt) read as plain values: only routes matter here."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_routes(path):
    document = yaml.load(open(path), Loader=TemplateLoader)
    routes = set()
    for resource in document["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                routes.add(f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}")
    return routes


spec = json.load(open(SPEC))
validate(spec)
print(f"openapi-spec-validator: {SPEC} is a valid OpenAPI {spec['openapi']} document")

generated = subprocess.run([sys.executable, os.path.join(ROOT, "local-runner", "openapi.py"), "--check"], capture_output=True, text=True)
if generated.returncode != 0:
    sys.exit(generated.stderr.strip() or generated.stdout.strip())

documented = {f"{method.upper()} {path}" for path, item in spec["paths"].items()
              for method in item if method in ("get", "put", "post", "delete", "patch", "head", "options")}
expected = template_routes(TEMPLATE) | RUNNER_ROUTES
missing, extra = sorted(expected - documented), sorted(documented - expected)
if missing or extra:
    sys.exit(f"openapi.json does not match the routes:\n  undocumented: {missing}\n  not served: {extra}")

# Every operation says what it answers, and every $ref resolves.
text = json.dumps(spec)
for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
    if name not in spec["components"]["schemas"]:
        sys.exit(f"$ref to a missing schema: {name}")
for route in sorted(documented):
    method, path = route.split(" ", 1)
    if not spec["paths"][path][method.lower()].get("responses"):
        sys.exit(f"{route} documents no response")
print(f"openapi.json: {len(documented)} operations = {len(expected - RUNNER_ROUTES)} template routes + {len(RUNNER_ROUTES)} runner endpoints")
