"""Exit 0 when the LocalStack at argv[1] reports both SNS and SQS ready, else 1."""
import json
import sys
import urllib.request

READY = {"available", "running"}

try:
    with urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2) as response:
        services = json.load(response).get("services", {})
except Exception:  # not up yet: the caller polls with a deadline
    sys.exit(1)
sys.exit(0 if {services.get("sns"), services.get("sqs")} <= READY else 1)
