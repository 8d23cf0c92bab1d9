"""Checks template/template.yaml: samtranslator turns it into plain CloudFormation, and every
function route and schedule is there. (cfn-lint runs beside this in Tests/run.)"""
import json, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # pseudo parameters need a region; nothing is called
from samtranslator.yaml_helper import yaml_parse
from samtranslator.translator.transform import transform

class NoManagedPolicies:  # the template names no managed policies: nothing to look up
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
# `sam build` fills ImageUri from each function's Docker metadata; stand in for it here.
for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"].setdefault("ImageUri", f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name.lower()}:check")
output = transform(template, {"DatabaseUrl": "postgresql://example/db"}, NoManagedPolicies())
resources = output["Resources"]
functions = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"]
api = next(r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
routes = sorted(f"{method.upper()} {path}" for path, item in api["Properties"]["Body"]["paths"].items() for method in item)
rules = [r for r in resources.values() if r["Type"] in ("AWS::Events::Rule", "AWS::Scheduler::Schedule")]
assert sorted(functions) == ["DriftFunction", "IngestFunction", "PredictFunction", "TrainFunction"], functions
assert all(resources[f]["Properties"]["PackageType"] == "Image" for f in functions)
assert len(rules) == 1, rules
machines = [r for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
assert len(machines) == 1, machines
if sys.argv[2:] == ["--routes"]:  # for the test that the functions serve exactly these routes
    print(json.dumps({name: sorted(f"{e['Properties']['Method']} {e['Properties']['Path']}" for e in template["Resources"][name]["Properties"]["Events"].values()
                             if e["Type"] == "HttpApi") for name in functions}))
    sys.exit(0)
print(f"samtranslator: {len(resources)} CloudFormation resources, {len(functions)} functions, {len(routes)} routes, {len(rules)} schedules")
