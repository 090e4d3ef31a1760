"""Signed requests against the sample web app: it verifies X-Pivot-Signature (HMAC-SHA256
of "t.METHOD.URL.BODY"), accepts either secret during a rotation, and refuses unsigned,
tampered and replayed (stale) requests. The signatures here are made independently of the
app's code, the way pivot's docs/webhooks.md describes them.

Run from the repository root:  python3 -m unittest discover -s examples/webapp -v
"""

import hashlib
import hmac
import http.client
import logging
import os
import tempfile
import threading
import time
import unittest

import app

NEW = "whsec-the-current-secret"
OLD = "whsec-the-previous-secret"

app.LOG.addHandler(logging.NullHandler())


def sign(secret, t, method, url, body=b""):
    signed = ("%d.%s.%s." % (t, method, url)).encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class SignedWebAppTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.rec_dir = os.path.join(self.tmp.name, "recordings")
        self.server = app.make_server(
            "127.0.0.1",
            0,
            "http://webapp.test:5000/recordings",
            self.rec_dir,
            max_upload_bytes=4096,
            signing_secrets=[NEW, OLD],
            signature_max_age=300,
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.tmp.cleanup()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, body=b"", header=None, headers=None):
        headers = dict(headers or {})
        if header is not None:
            headers["X-Pivot-Signature"] = header
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def signed(self, method, path, body=b"", t=None, secret=NEW):
        t = int(time.time()) if t is None else t
        return "t=%d,v1=%s" % (t, sign(secret, t, method, self.url(path), body))

    def test_a_signed_get_and_post_are_answered(self):
        path = "/voice?Call-ID=abc&To=3004"
        status, _ = self.request("GET", path, header=self.signed("GET", path))
        self.assertEqual(status, 200)
        form = b"Call-ID=abc&Digits%5Bdefault%5D=42"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _ = self.request(
            "POST", "/twiml", form, self.signed("POST", "/twiml", form), headers
        )
        self.assertEqual(status, 200)

    def test_either_secret_of_a_rotation_is_accepted(self):
        t = int(time.time())
        path = "/voice?Call-ID=abc"
        url = self.url(path)
        both = "t=%d,v1=%s,v1=%s" % (t, sign(NEW, t, "GET", url), sign(OLD, t, "GET", url))
        self.assertEqual(self.request("GET", path, header=both)[0], 200)
        only_old = "t=%d,v1=%s" % (t, sign(OLD, t, "GET", url))
        self.assertEqual(self.request("GET", path, header=only_old)[0], 200)

    def test_unsigned_and_tampered_requests_are_refused(self):
        path = "/voice?Call-ID=abc"
        self.assertEqual(self.request("GET", path)[0], 403)
        good = self.signed("GET", path)
        with self.assertLogs("webapp", level="WARNING"):
            self.assertEqual(self.request("GET", "/voice?Call-ID=abd", header=good)[0], 403)
        self.assertEqual(self.request("POST", path, header=good)[0], 403, "method")
        stranger = self.signed("GET", path, secret="whsec-of-another-account")
        self.assertEqual(self.request("GET", path, header=stranger)[0], 403)
        self.assertEqual(self.request("GET", path, header="t=1,v1=zz")[0], 403)
        body = b"Call-ID=abc"
        sig = self.signed("POST", "/voice", body)
        self.assertEqual(self.request("POST", "/voice", b"Call-ID=abd", sig)[0], 403, "body")

    def test_a_replayed_old_request_is_refused(self):
        path = "/voice?Call-ID=abc"
        old = int(time.time()) - 301
        with self.assertLogs("webapp", level="WARNING") as logs:
            status, body = self.request("GET", path, header=self.signed("GET", path, t=old))
        self.assertEqual(status, 403)
        self.assertIn(b"stale", body)
        self.assertIn("stale signature", "\n".join(logs.output))
        recent = int(time.time()) - 200
        self.assertEqual(self.request("GET", path, header=self.signed("GET", path, t=recent))[0], 200)

    def test_uploads_are_checked_only_when_signed(self):
        # FreeSWITCH's http_put cannot sign: an unsigned upload is stored.
        status, _ = self.request("PUT", "/recordings/fs.mp3", b"audio")
        self.assertEqual(status, 201)
        path = "/recordings/pivot.wav"
        status, _ = self.request("POST", path, b"RIFF", self.signed("POST", path, b"RIFF"))
        self.assertEqual(status, 201)
        bad = self.signed("POST", path, b"RIFF")
        status, _ = self.request("POST", "/recordings/forged.wav", b"RIFF", bad)
        self.assertEqual(status, 403)
        self.assertEqual(sorted(os.listdir(self.rec_dir)), ["fs.mp3", "pivot.wav"])

    def test_the_verification_function_matches_the_documented_algorithm(self):
        t = 1700000000
        url = "http://127.0.0.1:5000/voice?Call-ID=abc&To=3004"
        header = "t=%d,v1=%s" % (t, sign(NEW, t, "POST", url, b"a=1"))
        verify = app.verify_signature
        self.assertIsNone(verify(header, [NEW], "POST", url, b"a=1", 300, now=t + 10))
        self.assertIsNone(verify(header, [OLD, NEW], "post", url, b"a=1", 300, now=t))
        self.assertIn("stale", verify(header, [NEW], "POST", url, b"a=1", 300, now=t + 301))
        self.assertIn("match", verify(header, [NEW], "POST", url, b"a=2", 300, now=t))


if __name__ == "__main__":
    unittest.main()
