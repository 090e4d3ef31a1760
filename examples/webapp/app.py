#!/usr/bin/env python3
"""Sample customer web app for the pivot lab (Python 3 standard library only).

It plays the part of the customer's web server in pivot-contract.md:

  GET|POST /voice               the Pivot voicemail example as Piston JSON: say a prompt,
                                then record the caller and upload the recording here
  GET|POST /twiml               a small TwiML document (for pivot's TwiML translator)
  PUT|POST /recordings/<name>   store an uploaded recording as RECORDINGS_DIR/<name>
  GET /recordings/              list the stored recordings (JSON)

Every request is logged to stdout: method, path, query and the form (or JSON) body.

Signed requests: with PIVOT_SIGNING_SECRETS set, /voice and /twiml answer 403 unless the
X-Pivot-Signature header verifies with one of the secrets (HMAC-SHA256 of
"t.METHOD.URL.BODY", see pivot's docs/webhooks.md) and its timestamp is within
SIGNATURE_MAX_AGE seconds of now (an old request replayed is refused). Uploads are checked
when they carry a signature; FreeSWITCH's http_put cannot sign, so unsigned ones pass.

What it deliberately is not: a production server. No TLS; the upload name is checked and
the body size is capped, nothing more.

Settings (environment, or the command line flags of the same meaning):
  PORT              listening port (5000)
  BIND              listening address (0.0.0.0)
  RECORDINGS_URL    upload base put into the flow (http://webapp:5000/recordings); it is
                    fetched by FreeSWITCH (http_put), so it must resolve from there
  RECORDINGS_DIR    where uploads are stored (./recordings)
  MAX_UPLOAD_BYTES  largest accepted recording (64 MiB)
  PIVOT_SIGNING_SECRETS  comma-separated secrets (the account's current one, and the one
                    being retired during a rotation); unset: requests are not verified
  SIGNATURE_MAX_AGE seconds a signature's timestamp may be from now (300)
  PUBLIC_SCHEME     the scheme pivot used to reach this app (http; https behind a proxy
                    that terminates TLS), part of the signed URL
"""

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import sys
import tempfile
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOG = logging.getLogger("webapp")

# Bodies of /voice and /twiml requests are small forms or JSON documents.
MAX_FORM_BYTES = 64 * 1024
# An upload name is one path segment: no slash, no percent-escape, no leading dot.
RECORDING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
COPY_CHUNK = 64 * 1024

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Response><Say>Hello from the pivot lab. This answer is TwiML.</Say></Response>\n"
)


SIGNATURE_HEADER = "X-Pivot-Signature"
DEFAULT_SIGNATURE_MAX_AGE = 300


class SignatureCheck:
    """Verifies an X-Pivot-Signature header, `t=<unix seconds>,v1=<hex>[,v1=<hex>]`: each
    v1 is the HMAC-SHA256 of `t.METHOD.URL.BODY` with one of pivot's secrets for the
    account. Feed the body with update() (it may come in pieces), then ask problem()."""

    def __init__(self, header, secrets, method, url, max_age, now=None):
        fields = [part.split("=", 1) for part in (header or "").split(",") if "=" in part]
        stamps = [v.strip() for k, v in fields if k.strip() == "t"]
        self.sigs = [v.strip() for k, v in fields if k.strip() == "v1"]
        self.macs = []
        self.early = None
        if len(stamps) != 1 or not stamps[0].isdigit() or not self.sigs:
            self.early = "malformed or missing signature"
            return
        t = int(stamps[0])
        now = time.time() if now is None else now
        if abs(now - t) > max_age:
            self.early = "stale signature (t=%d is more than %d s from now)" % (t, max_age)
            return
        prefix = ("%d.%s.%s." % (t, method.upper(), url)).encode("utf-8")
        self.macs = [hmac.new(s.encode("utf-8"), prefix, hashlib.sha256) for s in secrets]

    def update(self, chunk):
        for mac in self.macs:
            mac.update(chunk)

    def problem(self):
        """None when the signature is valid, else why not."""
        if self.early:
            return self.early
        for mac in self.macs:
            expected = mac.hexdigest()
            if any(hmac.compare_digest(expected, sig) for sig in self.sigs):
                return None
        return "signature does not match"


def verify_signature(header, secrets, method, url, body, max_age, now=None):
    """None when the X-Pivot-Signature `header` is valid for the request, else why not."""
    check = SignatureCheck(header, secrets, method, url, max_age, now)
    check.update(body)
    return check.problem()


class BodyError(Exception):
    """A request that cannot be accepted: the HTTP status to answer, and whether any of
    the body was read already (then the connection cannot be reused)."""

    def __init__(self, status, message, body_started=False):
        super().__init__(message)
        self.status = status
        self.body_started = body_started


def voicemail_flow(recordings_url):
    """The voicemail example of the Pivot documentation, as one Piston JSON node."""
    return {
        "module": "say",
        "data": {"text": "Please leave a message after the beep."},
        "children": {
            "_": {
                "module": "record_caller",
                "data": {"url": recordings_url, "format": "mp3", "time_limit": 360},
            }
        },
    }


def describe_body(content_type, body):
    """A loggable view of a small request body: the form fields, the JSON, or a size."""
    if not body:
        return "(no body)"
    media_type = (content_type or "").split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    if media_type == "application/x-www-form-urlencoded":
        return "form %s" % json.dumps(parse_qs(text, keep_blank_values=True), sort_keys=True)
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return "json %s" % json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            pass
    return "%d bytes of %s: %r" % (len(body), media_type or "unknown type", text[:200])


class Handler(BaseHTTPRequestHandler):
    """One request. The server object carries the settings (see make_server)."""

    protocol_version = "HTTP/1.1"  # keep-alive, and "100 Continue" for curl's uploads
    server_version = "pivot-lab-webapp/1"
    timeout = 60  # seconds without a byte from the client before giving up

    # -- routing --------------------------------------------------------------------

    def do_GET(self):
        self._route(
            {
                "/voice": self._voice,
                "/twiml": self._twiml,
                "/recordings": self._list,
                "/recordings/": self._list,
            }
        )

    def do_POST(self):
        self._route({"/voice": self._voice, "/twiml": self._twiml}, uploads=True)

    def do_PUT(self):
        self._route({}, uploads=True)

    def _route(self, routes, uploads=False):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            if uploads and parts.path.startswith("/recordings/"):
                self._store_recording(parts.path[len("/recordings/") :], query)
            elif parts.path in routes:
                routes[parts.path](query)
            else:
                self._log_request(query, "(not read)")
                self._drop_body()
                self._send_json(
                    HTTPStatus.NOT_FOUND,
                    {"error": "no route for %s %s" % (self.command, parts.path)},
                )
        except BodyError as err:
            LOG.warning("%s %s refused: %s", self.command, parts.path, err)
            if err.body_started:
                self.close_connection = True  # the rest must not be taken for a request
            else:
                self._drop_body()
            self._send_json(err.status, {"error": str(err)})

    def handle_expect_100(self):
        """Refuse a bad upload name before the client sends the whole file."""
        path = urlsplit(self.path).path
        if path.startswith("/recordings/") and not RECORDING_NAME.match(
            path[len("/recordings/") :]
        ):
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "bad recording name"})
            return False
        return super().handle_expect_100()

    # -- the routes -----------------------------------------------------------------

    def _voice(self, query):
        if self._verified(query, self._small_raw_body()):
            self._send_json(HTTPStatus.OK, voicemail_flow(self.server.recordings_url))

    def _twiml(self, query):
        if self._verified(query, self._small_raw_body()):
            self._send(HTTPStatus.OK, "text/xml; charset=utf-8", TWIML.encode("utf-8"))

    def _verified(self, query, body):
        """Logs the request; True when its signature verifies (or no secret is set). Else
        answers 403 and returns False."""
        self._log_request(query, describe_body(self.headers.get("Content-Type"), body))
        check = self._signature_check()
        if check is None:
            return True
        check.update(body)
        return self._accept_signature(check)

    def _signature_check(self, required=True):
        """A SignatureCheck for this request, or None when none is to be made."""
        secrets = self.server.signing_secrets
        header = self.headers.get(SIGNATURE_HEADER)
        if not secrets or (header is None and not required):
            return None
        url = "%s://%s%s" % (self.server.public_scheme, self.headers.get("Host", ""), self.path)
        return SignatureCheck(
            header, secrets, self.command, url, self.server.signature_max_age
        )

    def _accept_signature(self, check):
        why = check.problem()
        if why is None:
            return True
        LOG.warning("%s %s refused: %s", self.command, urlsplit(self.path).path, why)
        self._send_json(HTTPStatus.FORBIDDEN, {"error": why})
        return False

    def _list(self, query):
        self._log_request(query, "(no body)")
        names = sorted(n for n in os.listdir(self.server.recordings_dir) if RECORDING_NAME.match(n))
        self._send_json(HTTPStatus.OK, {"recordings": names})

    def _store_recording(self, name, query):
        self._log_request(query, "(upload of %s)" % name)
        if not RECORDING_NAME.match(name):
            raise BodyError(HTTPStatus.BAD_REQUEST, "bad recording name")
        target = os.path.join(self.server.recordings_dir, name)
        # FreeSWITCH's http_put cannot sign: only an upload that carries a signature is
        # checked (pivot signs the uploads it makes itself).
        check = self._signature_check(required=False)
        size = self._save_body(target, check)
        if size is None:
            return
        LOG.info("stored recording %s (%d bytes)", target, size)
        self._send_json(HTTPStatus.CREATED, {"stored": name, "bytes": size})

    # -- request bodies -------------------------------------------------------------

    def _small_raw_body(self):
        """The whole body of a form or JSON request, at most MAX_FORM_BYTES."""
        chunks = []
        self._read_body(chunks.append, MAX_FORM_BYTES)
        return b"".join(chunks)

    def _save_body(self, target, check=None):
        """Stream the body into target (atomically replaced); return its size. With a
        signature check that fails, nothing is stored, 403 is answered and None returned."""
        fd, partial = tempfile.mkstemp(prefix=".upload-", dir=self.server.recordings_dir)
        try:
            with os.fdopen(fd, "wb") as out:

                def sink(data):
                    out.write(data)
                    if check is not None:
                        check.update(data)

                size = self._read_body(sink, self.server.max_upload_bytes)
            if check is not None and check.problem() is not None:
                os.unlink(partial)  # before the answer, so nothing is left once it is seen
                self._accept_signature(check)
                return None
            os.chmod(partial, 0o644)  # mkstemp's 0600 would hide it from other readers
            os.replace(partial, target)
            return size
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise

    def _read_body(self, sink, limit):
        """Pass the body to sink in pieces, refusing more than limit bytes in total."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(sink, limit)
        length = self._content_length()
        if length > limit:
            raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over %d bytes" % limit)
        return self._copy(length, sink)

    def _drop_body(self):
        """Skip a small unread body so that the connection stays usable, else close it."""
        raw = self.headers.get("Content-Length", "0").strip()
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked or not raw.isdigit() or int(raw) > MAX_FORM_BYTES:
            self.close_connection = True
            return
        try:
            self._copy(int(raw), lambda _data: None)
        except (BodyError, OSError):
            self.close_connection = True

    def _content_length(self):
        raw = self.headers.get("Content-Length", "0").strip()
        if not raw.isdigit() or len(raw) > 18:
            raise BodyError(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        return int(raw)

    def _read_chunked(self, sink, limit):
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size_text = line.split(b";")[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,16}", size_text):
                raise BodyError(HTTPStatus.BAD_REQUEST, "bad chunk header", True)
            size = int(size_text, 16)
            if size == 0:
                self._skip_trailers()
                return total
            total += size
            if total > limit:
                raise BodyError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body over %d bytes" % limit, True
                )
            self._copy(size, sink)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise BodyError(HTTPStatus.BAD_REQUEST, "bad chunk end", True)

    def _skip_trailers(self):
        for _ in range(64):
            if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                return
        raise BodyError(HTTPStatus.BAD_REQUEST, "too many trailers", True)

    def _copy(self, length, sink):
        left = length
        while left:
            data = self.rfile.read(min(left, COPY_CHUNK))
            if not data:
                raise BodyError(HTTPStatus.BAD_REQUEST, "body ended early", True)
            sink(data)
            left -= len(data)
        return length

    # -- answers and logs -----------------------------------------------------------

    def _send_json(self, status, document):
        self._send(status, "application/json", json.dumps(document).encode("utf-8") + b"\n")

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log_request(self, query, body):
        parts = urlsplit(self.path)
        LOG.info(
            "%s %s query=%s body=%s",
            self.command,
            parts.path,
            json.dumps(query, sort_keys=True),
            body,
        )

    def log_message(self, format, *args):
        LOG.debug("%s - %s", self.address_string(), format % args)


def make_server(
    bind,
    port,
    recordings_url,
    recordings_dir,
    max_upload_bytes,
    signing_secrets=(),
    signature_max_age=DEFAULT_SIGNATURE_MAX_AGE,
    public_scheme="http",
):
    """A ready, not yet serving, server; port 0 picks a free port. With signing_secrets,
    requests must be signed by pivot with one of them."""
    os.makedirs(recordings_dir, exist_ok=True)
    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    server.recordings_url = recordings_url
    server.recordings_dir = recordings_dir
    server.max_upload_bytes = max_upload_bytes
    server.signing_secrets = [s for s in signing_secrets if s]
    server.signature_max_age = signature_max_age
    server.public_scheme = public_scheme
    return server


def parse_args(argv):
    env = os.environ
    parser = argparse.ArgumentParser(description="Sample web app for the pivot lab.")
    parser.add_argument("--bind", default=env.get("BIND", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(env.get("PORT", "5000")))
    parser.add_argument(
        "--recordings-url", default=env.get("RECORDINGS_URL", "http://webapp:5000/recordings")
    )
    parser.add_argument("--recordings-dir", default=env.get("RECORDINGS_DIR", "recordings"))
    parser.add_argument(
        "--max-upload-bytes", type=int, default=int(env.get("MAX_UPLOAD_BYTES", str(64 << 20)))
    )
    parser.add_argument(
        "--signing-secrets",
        default=env.get("PIVOT_SIGNING_SECRETS", ""),
        help="comma-separated; empty: requests are not verified",
    )
    parser.add_argument(
        "--signature-max-age",
        type=int,
        default=int(env.get("SIGNATURE_MAX_AGE", str(DEFAULT_SIGNATURE_MAX_AGE))),
    )
    parser.add_argument("--public-scheme", default=env.get("PUBLIC_SCHEME", "http"))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s"
    )
    secrets = [s.strip() for s in args.signing_secrets.split(",") if s.strip()]
    server = make_server(
        args.bind,
        args.port,
        args.recordings_url,
        args.recordings_dir,
        args.max_upload_bytes,
        signing_secrets=secrets,
        signature_max_age=args.signature_max_age,
        public_scheme=args.public_scheme,
    )
    if not secrets:
        LOG.warning("PIVOT_SIGNING_SECRETS is not set: requests are not verified")
    LOG.info(
        "listening on %s:%d, recordings go to %s (flow uploads to %s)",
        args.bind,
        server.server_address[1],
        os.path.abspath(args.recordings_dir),
        args.recordings_url,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
