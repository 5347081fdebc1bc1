"""mitmproxy addon: answers, in front of moto, what moto cannot (refused roles, throttling,
server errors, dropped connections, slow answers, account assignments and permission-set
provisionings that stay IN_PROGRESS or FAIL). Run as
  mitmdump --mode reverse:<moto> -s faults.py --set faults=<rules.json>

The rules file is a JSON list, re-read whenever it changes (counts restart then):
  {"name": "...", "operation": "AssumeRole", "contains": "<text in the request body>",
   "answer": "...", "times": 2, "delay_ms": 200, "reason": "..."}
`operation` is the AWS operation (STS `Action=`, or the `X-Amz-Target` suffix); `contains`,
`times` (absent: every match) and `operation` (absent: every operation) are optional. The
first rule that matches a request decides it. Answers:
  access_denied, throttle (400), server_error (500), drop (connection closed): instead of moto;
  in_progress: moto answers, then the account-assignment or provisioning status in its
    answer is rewritten to IN_PROGRESS (AWS still working; moto did the work);
  failed: a FAILED status with `reason` as FailureReason; for Create/DeleteAccountAssignment
    answered instead of moto (as AWS, nothing was done), for ProvisionPermissionSet and the
    Describe…Status polls moto's answer (or this addon's) is rewritten;
  pass: moto answers unchanged (with `delay_ms`, a slow AWS);
  stall: the request is held without an answer (an egress proxy or a middlebox that drops
    silently) until the rule leaves the rules file, or for `stall_ms` when given; then moto
    answers, to whoever is still listening.
`delay_ms` delays any answer. Every request is logged, one JSON line per request to
<rules.json>.log: {"operation": ..., "fault": <rule name or null>, "session": <RoleSessionName
of the assumed-role credentials that signed it, or null>}, so a test can tell that a fault
really fired, what the operator sent and as whom (what CloudTrail would show).

Provisioning: moto answers ProvisionPermissionSet SUCCEEDED and has no
DescribePermissionSetProvisioningStatus, so this addon remembers every ProvisionPermissionSet
answer (RequestId, PermissionSetArn, AccountId, CreatedDate and how it ends: SUCCEEDED, also
when an in_progress rule rewrote the answer, or FAILED with a failed rule's reason) and
answers DescribePermissionSetProvisioningStatus itself, never forwarding it: the remembered
status for a request id it saw (in_progress and failed rules that match the poll override it
for that answer only), ResourceNotFoundException for one it never saw. Access_denied,
throttle, server_error, drop, stall and delay_ms rules apply to the poll as to any call.
"""

import asyncio
import json
import os
import re
import time
import urllib.parse
import uuid

from mitmproxy import ctx, http

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
STATUS_KEYS = (
    "AccountAssignmentCreationStatus",
    "AccountAssignmentDeletionStatus",
    "PermissionSetProvisioningStatus",
)
PROVISION = "ProvisionPermissionSet"
PROVISIONING_STATUS = "DescribePermissionSetProvisioningStatus"
JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.1"}


def operation_of(request: http.Request) -> str:
    target = request.headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    form = urllib.parse.parse_qs(request.get_text(strict=False) or "")
    return (form.get("Action") or [""])[0]


def is_query_protocol(request: http.Request) -> bool:
    return "x-amz-target" not in request.headers


def error_response(request: http.Request, status: int, code: str, message: str) -> http.Response:
    """An AWS error in the protocol the request used: STS's XML or the JSON services'."""
    if is_query_protocol(request):
        body = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>breakglass-fault</RequestId></ErrorResponse>"
        )
        return http.Response.make(status, body, {"Content-Type": "text/xml"})
    body = json.dumps({"__type": code, "Message": message})
    return http.Response.make(
        status,
        body,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
    )


ANSWERS = {
    "access_denied": lambda r: error_response(
        r,
        403 if is_query_protocol(r) else 400,
        "AccessDenied" if is_query_protocol(r) else "AccessDeniedException",
        "not authorized to perform this action (injected by the test's fault proxy)",
    ),
    "throttle": lambda r: error_response(
        r,
        400,
        "Throttling" if is_query_protocol(r) else "ThrottlingException",
        "Rate exceeded (injected by the test's fault proxy)",
    ),
    "server_error": lambda r: error_response(
        r,
        500,
        "InternalFailure" if is_query_protocol(r) else "InternalServerException",
        "internal error (injected by the test's fault proxy)",
    ),
}


CHANGES = {
    "CreateAccountAssignment": "AccountAssignmentCreationStatus",
    "DeleteAccountAssignment": "AccountAssignmentDeletionStatus",
}


def failed_change(request: http.Request, key: str, rule) -> http.Response:
    """A create or delete AWS took and then failed: nothing changed."""
    try:
        asked = json.loads(request.get_text() or "{}")
    except ValueError:
        asked = {}
    status = {k: asked[k] for k in ("TargetId", "TargetType", "PermissionSetArn",
                                    "PrincipalType", "PrincipalId") if k in asked}
    status.update({
        "Status": "FAILED",
        "RequestId": str(uuid.uuid4()),
        "FailureReason": rule.get("reason", "failed (injected by the test's fault proxy)"),
    })
    return http.Response.make(200, json.dumps({key: status}), JSON_HEADERS)


def rewrite(status: dict, rule) -> None:
    """An in_progress or failed rule's status in place of `status`'s."""
    if rule["answer"] == "in_progress":
        status["Status"] = "IN_PROGRESS"
        status.pop("FailureReason", None)
    else:
        status["Status"] = "FAILED"
        status["FailureReason"] = rule.get("reason", "failed (injected by the test's fault proxy)")


def request_json(request: http.Request) -> dict:
    try:
        asked = json.loads(request.get_text(strict=False) or "{}")
    except ValueError:
        return {}
    return asked if isinstance(asked, dict) else {}


class Faults:
    def __init__(self):
        self.rules = []
        self.used = {}
        self.mtime = None
        # access key id -> RoleSessionName, learnt from AssumeRole answers
        self.sessions = {}
        # ProvisionPermissionSet RequestId -> the status its polls answer (as it ends)
        self.provisionings = {}

    def load(self, loader):
        loader.add_option("faults", str, "", "path of the JSON rules file")

    def _reload(self):
        path = ctx.options.faults
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            self.rules, self.used, self.mtime = [], {}, None
            return
        if mtime != self.mtime:
            with open(path) as f:
                self.rules = json.load(f)
            self.used, self.mtime = {}, mtime

    def _match(self, request: http.Request, operation: str):
        body = request.get_text(strict=False) or ""
        decoded = urllib.parse.unquote_plus(body)
        for i, rule in enumerate(self.rules):
            if rule.get("operation") not in (None, operation):
                continue
            if "contains" in rule and rule["contains"] not in decoded:
                continue
            times = rule.get("times")
            if times is not None and self.used.get(i, 0) >= times:
                continue
            self.used[i] = self.used.get(i, 0) + 1
            return rule
        return None

    def _log(self, operation: str, fault, session):
        line = {"operation": operation, "fault": fault, "session": session}
        with open(ctx.options.faults + ".log", "a") as f:
            f.write(json.dumps(line) + "\n")

    def _session(self, request: http.Request):
        signed = re.search(r"Credential=([^/,\s]+)/", request.headers.get("authorization", ""))
        return signed and self.sessions.get(signed.group(1))

    async def request(self, flow: http.HTTPFlow):
        self._reload()
        operation = operation_of(flow.request)
        rule = self._match(flow.request, operation)
        self._log(operation, rule and rule.get("name"), self._session(flow.request))
        if rule is not None:
            if rule.get("delay_ms"):
                await asyncio.sleep(rule["delay_ms"] / 1000)
            answer = rule.get("answer", "pass")
            if answer == "stall":
                await self._stall(rule)
            elif answer == "drop":
                flow.kill()
                return
            elif answer in ANSWERS:
                flow.response = ANSWERS[answer](flow.request)
                return
            elif answer == "failed" and operation in CHANGES:
                flow.response = failed_change(flow.request, CHANGES[operation], rule)
                return
            elif operation != PROVISIONING_STATUS:
                flow.metadata["fault"] = rule
        if operation == PROVISIONING_STATUS:
            flow.response = self._provisioning_status(flow.request, rule)

    def _provisioning_status(self, request: http.Request, rule) -> http.Response:
        """What AWS would answer for a provisioning this addon saw (moto knows none)."""
        request_id = request_json(request).get("ProvisionPermissionSetRequestId")
        remembered = self.provisionings.get(request_id)
        if remembered is None:
            return error_response(
                request,
                400,
                "ResourceNotFoundException",
                f"no permission set provisioning request {request_id} (the fault proxy saw none)",
            )
        status = dict(remembered)
        if rule and rule.get("answer") in ("in_progress", "failed"):
            rewrite(status, rule)
        body = {"PermissionSetProvisioningStatus": status}
        return http.Response.make(200, json.dumps(body), JSON_HEADERS)

    async def _stall(self, rule):
        """Holds until the rule is gone from the rules file (or `stall_ms` passed). The
        event loop keeps serving other requests meanwhile: one stall holds one request."""
        loop = asyncio.get_running_loop()
        until = rule.get("stall_ms") and loop.time() + rule["stall_ms"] / 1000
        while rule in self.rules and not (until and loop.time() >= until):
            await asyncio.sleep(0.05)
            self._reload()

    def response(self, flow: http.HTTPFlow):
        operation = operation_of(flow.request)
        rule = flow.metadata.get("fault")
        if rule and rule.get("answer") in ("in_progress", "failed"):
            self._rewrite_status(flow, rule)
        if operation == PROVISION:
            self._remember_provisioning(flow)
        if operation != "AssumeRole" or flow.response.status_code != 200:
            return
        form = urllib.parse.parse_qs(flow.request.get_text(strict=False) or "")
        key = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", flow.response.get_text() or "")
        name = (form.get("RoleSessionName") or [None])[0]
        if key and name:
            self.sessions[key.group(1)] = name

    def _rewrite_status(self, flow: http.HTTPFlow, rule):
        if flow.response.status_code != 200:
            return
        try:
            body = json.loads(flow.response.get_text() or "{}")
        except ValueError:
            return
        for key in STATUS_KEYS:
            status = body.get(key)
            if isinstance(status, dict):
                rewrite(status, rule)
        flow.response.set_text(json.dumps(body))

    def _remember_provisioning(self, flow: http.HTTPFlow):
        """Remembers how a provisioning ends, for its polls: SUCCEEDED when answered
        IN_PROGRESS (moto did the work), else as answered (FAILED keeps its reason)."""
        if flow.response is None or flow.response.status_code != 200:
            return
        try:
            status = json.loads(flow.response.get_text() or "{}").get(
                "PermissionSetProvisioningStatus"
            )
        except (ValueError, AttributeError):
            return
        if not isinstance(status, dict) or not status.get("RequestId"):
            return
        remembered = {
            "RequestId": status["RequestId"],
            "Status": status.get("Status") or "SUCCEEDED",
            "PermissionSetArn": status.get("PermissionSetArn")
            or request_json(flow.request).get("PermissionSetArn"),
            "AccountId": status.get("AccountId"),
            "CreatedDate": status.get("CreatedDate") or time.time(),
        }
        if remembered["Status"] == "IN_PROGRESS":
            remembered["Status"] = "SUCCEEDED"
        elif remembered["Status"] == "FAILED":
            remembered["FailureReason"] = status.get("FailureReason") or "no reason given"
        self.provisionings[status["RequestId"]] = {
            k: v for k, v in remembered.items() if v is not None
        }


addons = [Faults()]
