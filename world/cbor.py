"""CloudWatch's Smithy RPC v2 CBOR protocol, in front of moto.

The Rust SDK (`aws-sdk-cloudwatch` 1.100 and later) speaks Smithy RPC v2 CBOR to CloudWatch;
moto 5.2.5 serves CloudWatch only over the Query and AWS JSON 1.0 protocols. `CborFront` is a
WSGI middleware that answers the CBOR requests: it decodes the request, re-issues it to moto's
own handler as the AWS JSON 1.0 request of the same operation (the protocol boto3 speaks to the
world, so moto's parsing, validation and errors are the ones the world already relies on), and
encodes moto's answer as CBOR. Every other request passes through untouched.

Both directions are driven by botocore's CloudWatch model, shape by shape: the two protocols
share member names and structure (no XML wrappers), and differ in timestamps (JSON numbers,
CBOR tag 1), blobs (base64 text, CBOR byte strings) and number types (JSON leaves `1.0` and
`1` alike; CBOR keeps floats and integers apart).

The protocol (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html):
- a request is `POST {prefix?}/service/{serviceName}/operation/{operationName}` with the
  header `Smithy-Protocol: rpc-v2-cbor`, `Content-Type: application/cbor` and a CBOR map of
  the input's members; it MUST NOT carry `X-Amz-Target` (servers MUST reject it);
- a response carries `Smithy-Protocol: rpc-v2-cbor`; a success is HTTP 200 with the output
  as a CBOR map, or no body and no Content-Type when the operation has no output;
- timestamps are tag 1 (epoch seconds), floats and doubles CBOR floats, nulls omitted;
- an error is the error structure as a CBOR map with `__type`, the error's absolute shape id
  (`com.amazonaws.cloudwatch#ResourceNotFound`), and `message`; its status is the error's.
CloudWatch is `awsQueryCompatible`, so an error also carries `x-amzn-query-error: Code;Fault`
with the Query code (`ResourceNotFound;Sender`), which the SDKs take as the error code:
https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#aws-protocols-awsquerycompatible-trait

Floats are always written as 64-bit CBOR floats, timestamps included: the Rust SDK's decoder
(aws-smithy-cbor 0.61, `Decoder::timestamp` and `Decoder::double`) reads only CBOR floats there,
though the specification also allows integers.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import re
from datetime import datetime, timezone
from functools import lru_cache
from http import HTTPStatus
from typing import Any, Callable, Iterable

import cbor2

# The service shape's name and namespace in CloudWatch's Smithy model
# (`com.amazonaws.cloudwatch#GraniteServiceVersion20100801`); the JSON protocol's X-Amz-Target
# prefix is the same name.
SERVICE = "GraniteServiceVersion20100801"
NAMESPACE = "com.amazonaws.cloudwatch"
PROTOCOL_HEADER = "rpc-v2-cbor"
CBOR = "application/cbor"

# Only the last four segments of the path route a request; a prefix is allowed.
_PATH = re.compile(r"^(?:/.*)?/service/([^/]+)/operation/([^/]+)$")

log = logging.getLogger("world")


class Malformed(Exception):
    """A CBOR request the front cannot read: answered as a client error, before moto."""


def cbor_operation(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service name, operation name) of a Smithy RPC v2 CBOR request, else None."""
    if environ.get("HTTP_SMITHY_PROTOCOL", "").strip().lower() != PROTOCOL_HEADER:
        return None
    match = _PATH.match(environ.get("PATH_INFO", ""))
    return (match.group(1), match.group(2)) if match else None


@lru_cache(maxsize=1)
def cloudwatch_model() -> Any:
    """botocore's CloudWatch service model (the one boto3 in the world's venv uses)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("cloudwatch")


# -- values: CBOR request to JSON, JSON answer to CBOR, by the model's shapes -----------


def _epoch(value: Any, where: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):  # an ISO 8601 timestamp in a JSON answer
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    raise Malformed(f"{where}: expected a timestamp (CBOR tag 1), got {type(value).__name__}")


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> None:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Malformed(f"{where}: expected {what}, got {type(value).__name__}")


def to_json(shape: Any, value: Any, where: str = "") -> Any:
    """A decoded CBOR value as the AWS JSON 1.0 protocol writes it for `shape`."""
    kind = shape.type_name
    if kind == "structure":
        _expect(value, dict, where or "the request", "a map")
        return {
            name: to_json(member, value[name], f"{where}.{name}".lstrip("."))
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        _expect(value, list, where, "an array")
        return [to_json(shape.member, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        _expect(value, dict, where, "a map")
        return {k: to_json(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if kind == "timestamp":
        return _epoch(value, where)
    if kind == "blob":
        _expect(value, bytes, where, "a byte string")
        return base64.b64encode(value).decode()
    if kind in ("integer", "long", "short", "byte"):
        _expect(value, int, where, "an integer")
        return value
    if kind in ("double", "float"):
        _expect(value, (int, float), where, "a number")
        return value
    if kind == "boolean":
        _expect(value, bool, where, "a boolean")
        return value
    _expect(value, str, where, "a text string")
    return value


def to_cbor(shape: Any, value: Any) -> Any:
    """A value of moto's JSON answer as the RPC v2 CBOR protocol writes it for `shape`."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: to_cbor(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [to_cbor(shape.member, v) for v in value]
    if kind == "map":
        return {k: to_cbor(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        return cbor2.CBORTag(1, float(_epoch(value, shape.name)))
    if kind == "blob":
        return base64.b64decode(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    if kind == "boolean":
        return bool(value)
    return str(value)


# -- the middleware -------------------------------------------------------------------


class CborFront:
    """Answers CloudWatch's Smithy RPC v2 CBOR requests through moto's JSON protocol handler;
    every other request goes to `app` as it came."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        route = cbor_operation(environ)
        if route is None:
            return self.app(environ, start_response)
        service, operation = route
        try:
            return self.serve(environ, start_response, service, operation)
        except Malformed as exc:
            return error_response(
                start_response, 400, "SerializationException", "SerializationException",
                f"{operation}: {exc}")
        except Exception as exc:  # a bug here must still reach the SDK as CloudWatch's error
            log.exception("the CBOR front failed on %s", operation)
            return error_response(
                start_response, 500, "InternalServiceFault", "InternalServiceError",
                f"the world's CBOR front failed on {operation}: {type(exc).__name__}: {exc}",
                sender=False)

    def serve(self, environ: dict[str, Any], start_response: Any, service: str,
              operation: str) -> Iterable[bytes]:
        # The spec: servers route `TheService` and `namespace.TheService` alike.
        if service not in (SERVICE, f"{NAMESPACE}.{SERVICE}"):
            return error_response(
                start_response, 404, "UnknownOperationException", "UnknownOperation",
                f"the world answers Smithy RPC v2 CBOR for CloudWatch ({SERVICE}) only, "
                f"not for {service!r}")
        model = cloudwatch_model()
        if operation not in model.operation_names:
            return error_response(
                start_response, 404, "UnknownOperationException", "UnknownOperation",
                f"CloudWatch has no operation {operation!r}")
        if environ.get("REQUEST_METHOD") != "POST":
            raise Malformed(f"RPC v2 CBOR requests are POST, not {environ.get('REQUEST_METHOD')}")
        if environ.get("HTTP_X_AMZ_TARGET") or environ.get("HTTP_X_AMZN_TARGET"):
            raise Malformed("an RPC v2 CBOR request must not carry X-Amz-Target")
        op = model.operation_model(operation)

        body = _read_body(environ)
        decoded: Any = {}
        if body:
            try:
                decoded = cbor2.loads(body)
            except (cbor2.CBORDecodeError, ValueError) as exc:
                raise Malformed(f"the body is not CBOR ({exc})") from None
        payload = to_json(op.input_shape, decoded) if op.input_shape is not None else {}

        try:
            status, headers, answer = self.ask_moto(environ, operation, payload)
        except NotImplementedError as exc:  # moto raises it, through Flask, for a missing action
            return error_response(
                start_response, 500, "InternalServiceFault", "InternalServiceError",
                f"the world's moto does not implement CloudWatch {operation} ({exc})",
                sender=False)
        request_id = _header(headers, "x-amzn-requestid")
        if status == 200:
            return _success(start_response, op, answer, request_id)
        return _moto_error(start_response, status, headers, answer, operation, request_id)

    def ask_moto(self, environ: dict[str, Any], operation: str,
                 payload: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """The AWS JSON 1.0 request of the same operation, to moto; its status, headers, body."""
        data = json.dumps(payload).encode()
        inner = dict(environ)
        for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_CONTENT_ENCODING", "HTTP_ACCEPT"):
            inner.pop(key, None)
        inner.update({
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_AMZ_TARGET": f"{SERVICE}.{operation}",
            "wsgi.input": io.BytesIO(data),
        })
        for key in ("REQUEST_URI", "RAW_URI"):
            if key in inner:
                inner[key] = "/"
        got: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            got["status"], got["headers"] = int(status.split()[0]), headers
            return lambda _chunk: None

        chunks = self.app(inner, capture)
        try:
            answer = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return got["status"], got["headers"], answer


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    # The SDK gzips large PutMetricData bodies (requestCompression trait).
    if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() == "gzip" and body:
        try:
            body = gzip.decompress(body)
        except OSError as exc:
            raise Malformed(f"Content-Encoding is gzip but the body is not ({exc})") from None
    return body


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _respond(start_response: Any, status: int, body: bytes | None,
             extra: list[tuple[str, str]]) -> list[bytes]:
    headers = [("Smithy-Protocol", PROTOCOL_HEADER), *extra]
    if body is not None:
        headers += [("Content-Type", CBOR), ("Content-Length", str(len(body)))]
    else:
        headers.append(("Content-Length", "0"))
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    start_response(f"{status} {reason}", headers)
    return [body or b""]


def _success(start_response: Any, op: Any, answer: bytes, request_id: str | None) -> list[bytes]:
    extra = [("x-amzn-RequestId", request_id)] if request_id else []
    if op.output_shape is None:  # no output: no body, no Content-Type
        return _respond(start_response, 200, None, extra)
    value = json.loads(answer or b"{}")
    return _respond(start_response, 200, cbor2.dumps(to_cbor(op.output_shape, value)), extra)


def error_response(start_response: Any, status: int, shape: str, code: str, message: str,
                   sender: bool = True, request_id: str | None = None,
                   members: dict[str, Any] | None = None) -> list[bytes]:
    """A CloudWatch error in the RPC v2 CBOR protocol: `__type` (the error's absolute shape id)
    and `message` in the body, the Query code and fault in `x-amzn-query-error`. For a
    throttled call: `error_response(sr, 400, "ThrottlingException", "Throttling", "Rate
    exceeded")`, the code the SDKs' retry classifiers know."""
    body = {"__type": f"{NAMESPACE}#{shape}", **(members or {}), "message": message}
    extra = [("x-amzn-query-error", f"{code};{'Sender' if sender else 'Receiver'}")]
    if request_id:
        extra.append(("x-amzn-RequestId", request_id))
    return _respond(start_response, status, cbor2.dumps(body), extra)


def _moto_error(start_response: Any, status: int, headers: list[tuple[str, str]],
                answer: bytes, operation: str, request_id: str | None) -> list[bytes]:
    """moto's AWS JSON 1.0 error, re-encoded; an answer that is not one (moto's HTML page for
    an operation it does not implement) becomes CloudWatch's internal error, saying so."""
    try:
        doc = json.loads(answer)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "__type" not in doc:
        text = answer.decode("utf-8", "replace")
        reason = re.sub(r"<[^>]+>", " ", text)
        reason = " ".join(reason.split())[:300]
        return error_response(
            start_response, status if status >= 400 else 500, "InternalServiceFault",
            "InternalServiceError",
            f"the world's moto answered {operation} with HTTP {status} and no AWS error "
            f"(is the operation implemented in moto 5.2.5?): {reason}",
            sender=False, request_id=request_id)
    name = str(doc["__type"]).split("#")[-1].split(":")[0]
    message = doc.get("message") or doc.get("Message") or ""
    query = _header(headers, "x-amzn-query-error") or ""
    code, _, fault = query.partition(";")
    members: dict[str, Any] = {}
    shape = next((s for s in cloudwatch_model().error_shapes if s.name == name), None)
    if shape is not None:
        if not code:
            code = shape.metadata.get("error", {}).get("code", name)
            fault = "Sender" if shape.metadata.get("error", {}).get("senderFault") else "Receiver"
        members = to_cbor(shape, doc)
    return error_response(
        start_response, status, name, code or name, str(message),
        sender=(fault or "Sender") == "Sender", request_id=request_id, members=members)

