"""Tests for the lab's sample web app: the real server on a free port, spoken to over HTTP.

Run from the repository root:  python3 -m unittest discover -s examples/webapp -v
"""

import http.client
import json
import logging
import os
import socket
import tempfile
import threading
import unittest
import xml.etree.ElementTree as ET

import app

RECORDINGS_URL = "http://webapp.test:5000/recordings"

# Refusals are logged as warnings; keep them out of the test output (assertLogs still sees them).
app.LOG.addHandler(logging.NullHandler())


class WebAppTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.rec_dir = os.path.join(self.tmp.name, "recordings")
        self.server = app.make_server(
            "127.0.0.1", 0, RECORDINGS_URL, self.rec_dir, max_upload_bytes=4096
        )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
        self.tmp.cleanup()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type"), resp.read()
        finally:
            conn.close()

    def raw_exchange(self, head, body=b""):
        """Send raw bytes; send body only after a "100 Continue". Read until the server
        closes (every raw request says Connection: close, or is refused)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(head)
            answer = sock.recv(65536)
            if answer.startswith(b"HTTP/1.1 100") and body:
                sock.sendall(body)
            while True:
                piece = sock.recv(65536)
                if not piece:
                    return answer
                answer += piece

    def recordings(self):
        return sorted(os.listdir(self.rec_dir))

    # -- /voice and /twiml ----------------------------------------------------------

    def test_voice_answers_the_voicemail_example_as_piston_json(self):
        status, ctype, body = self.request("GET", "/voice?Call-ID=abc&From=5551000")
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "application/json")
        self.assertEqual(
            json.loads(body),
            {
                "module": "say",
                "data": {"text": "Please leave a message after the beep."},
                "children": {
                    "_": {
                        "module": "record_caller",
                        "data": {"url": RECORDINGS_URL, "format": "mp3", "time_limit": 360},
                    }
                },
            },
        )

    def test_voice_post_logs_method_path_query_and_form(self):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        with self.assertLogs("webapp", level="INFO") as logs:
            status, _, _ = self.request(
                "POST", "/voice?x=1", "Call-ID=abc&Digits%5Bdefault%5D=42", headers
            )
        self.assertEqual(status, 200)
        line = "\n".join(logs.output)
        self.assertIn("POST /voice", line)
        self.assertIn('"x": ["1"]', line)
        self.assertIn('"Digits[default]": ["42"]', line)

    def test_voice_post_json_body_is_logged_as_json(self):
        with self.assertLogs("webapp", level="INFO") as logs:
            status, _, _ = self.request(
                "POST", "/voice", b'{"Call-ID": "abc"}', {"Content-Type": "application/json"}
            )
        self.assertEqual(status, 200)
        self.assertIn('json {"Call-ID": "abc"}', "\n".join(logs.output))

    def test_oversized_form_is_refused_without_reading_it(self):
        head = b"POST /voice HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (
            app.MAX_FORM_BYTES + 1
        )
        self.assertTrue(self.raw_exchange(head).startswith(b"HTTP/1.1 413"))

    def test_twiml_is_a_response_with_say(self):
        status, ctype, body = self.request("GET", "/twiml")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/xml"))
        root = ET.fromstring(body)
        self.assertEqual(root.tag, "Response")
        self.assertEqual([child.tag for child in root], ["Say"])
        self.assertTrue(root[0].text)

    def test_unknown_path_is_404(self):
        status, _, _ = self.request("GET", "/nope")
        self.assertEqual(status, 404)

    # -- uploads --------------------------------------------------------------------

    def test_put_stores_the_exact_bytes(self):
        payload = bytes(range(256)) * 8
        status, _, body = self.request("PUT", "/recordings/call-1.mp3", payload)
        self.assertEqual(status, 201)
        self.assertEqual(json.loads(body), {"stored": "call-1.mp3", "bytes": len(payload)})
        with open(os.path.join(self.rec_dir, "call-1.mp3"), "rb") as f:
            self.assertEqual(f.read(), payload)

    def test_post_upload_is_stored_too(self):
        status, _, _ = self.request("POST", "/recordings/call-2.wav", b"RIFF....")
        self.assertEqual(status, 201)
        self.assertEqual(self.recordings(), ["call-2.wav"])

    def test_chunked_upload_is_reassembled(self):
        head = (
            b"PUT /recordings/chunked.mp3 HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        answer = self.raw_exchange(head + b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 201"), answer)
        with open(os.path.join(self.rec_dir, "chunked.mp3"), "rb") as f:
            self.assertEqual(f.read(), b"hello world")

    def test_expect_100_continue_gets_an_interim_answer(self):
        head = (
            b"PUT /recordings/curl.mp3 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        answer = self.raw_exchange(head, b"data")
        self.assertTrue(answer.startswith(b"HTTP/1.1 100 Continue"), answer)
        self.assertIn(b"HTTP/1.1 201", answer)
        self.assertEqual(self.recordings(), ["curl.mp3"])

    def test_expect_100_with_a_bad_name_is_refused_before_the_body(self):
        head = (
            b"PUT /recordings/..%2Fx HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        answer = self.raw_exchange(head)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer)

    def test_names_that_could_leave_the_directory_are_refused(self):
        for name in ("..%2F..%2Fescape", "../escape", ".hidden", "a/b", "", "x" * 200):
            with self.subTest(name=name):
                status, _, _ = self.request("PUT", "/recordings/" + name, b"data")
                self.assertIn(status, (400, 404))
        self.assertEqual(self.recordings(), [])
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["recordings"])

    def test_upload_over_the_limit_is_refused_and_leaves_nothing(self):
        status, _, _ = self.request("PUT", "/recordings/big.mp3", b"x" * 4097)
        self.assertEqual(status, 413)
        # A chunked body is refused at the first chunk header that goes over the limit.
        head = b"PUT /recordings/big.mp3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        answer = self.raw_exchange(head + b"1001\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer)
        self.assertEqual(self.recordings(), [])

    def test_malformed_lengths_are_refused(self):
        for head in (
            b"PUT /recordings/a.mp3 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            b"PUT /recordings/a.mp3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ):
            with self.subTest(head=head):
                self.assertTrue(self.raw_exchange(head).startswith(b"HTTP/1.1 400"))
        self.assertEqual(self.recordings(), [])

    def test_listing_shows_stored_recordings(self):
        self.request("PUT", "/recordings/one.mp3", b"1")
        status, _, body = self.request("GET", "/recordings/")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"recordings": ["one.mp3"]})


if __name__ == "__main__":
    unittest.main()
