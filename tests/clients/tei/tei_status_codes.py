"""A schemathesis check for the run with TEI's published document: its
status-code conformance, less the statuses TEI itself answers that the
document leaves out (see schemathesis.toml beside this file). Each is let
through only for the request that earns it:

- 415 for a request without a JSON Content-Type (TEI's framework, axum,
  refuses it so before TEI's handler runs);
- 400 for a body that is not JSON at all (axum's JSON syntax rejection);
- 400 with error_type "Empty" for an empty input (TEI's ErrorType::Empty);
- 503 with error_type "Unhealthy" (the model is not serving).

Any other status the document does not list for the route still fails, as
does one of these for any other request. Loaded through SCHEMATHESIS_HOOKS
(tests/clients/test_openapi.py)."""

import json
import os

import schemathesis
from schemathesis.specs.openapi.checks import status_code_conformance


def _request_body_is_json(request):
    body = request.body
    if body is None:
        return False
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _error_type(response):
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error_type") if isinstance(body, dict) else None


def _teis_own_answer(response):
    code, request = response.status_code, response.request
    if code == 415:
        return not request.headers.get("Content-Type", "").lower().startswith("application/json")
    if code == 400:
        return not _request_body_is_json(request) or _error_type(response) == "Empty"
    if code == 503:
        return _error_type(response) == "Unhealthy"
    return False


@schemathesis.check
def tei_status_code_conformance(ctx, response, case):
    # Each status checked, one per line, where the test asks (so that it
    # can tell that this check ran).
    log = os.environ.get("ENCORE_TEI_STATUS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{case.operation.label} {response.status_code}\n")
    if _teis_own_answer(response):
        return None
    return status_code_conformance(ctx, response, case)
