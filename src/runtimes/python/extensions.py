"""Lambda extensions inside a Python sandbox (stdlib only; loaded by bootstrap.py only when /opt/extensions
holds files, so a function without extensions never imports http.server, threading or subprocess).

The executables in /opt/extensions (from the function's layers) start at bind, in the same sandbox and
cgroup, after the zygote's fork (bind runs in the environment, never in the zygote), and are served the
subset of Lambda's Extensions API that runtimes/node/extensions.ts serves, with the same semantics and
bounds: register, event/next (INVOKE and SHUTDOWN), init/error and exit/error, on a loopback port of a
thread's HTTP server (their AWS_LAMBDA_RUNTIME_API).
"""

import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = "/opt/extensions"
API = "/2020-01-01/extension"
# How long init waits for every extension to register and ask for its first event (Kindling's bound).
REGISTER_BOUND_S = 2.0
# Lambda's grace for extensions after SHUTDOWN.
SHUTDOWN_GRACE_S = 2.0
# A request body larger than this is refused (register's body is a few bytes).
BODY_LIMIT = 1 << 20
# Connections served at once; more are closed (an extension flooding the API only hurts its own environment).
MAX_CONNECTIONS = 64
# An idle keep-alive connection is closed after this long (its client reconnects).
IDLE_S = 30.0


class Ext:
    def __init__(self, path):
        self.file = path
        self.base = os.path.basename(path)
        self.proc = None
        self.exited = False
        self.id = None
        self.name = None
        self.events = set()
        self.queued = []
        # Asked for its next event since the last one was delivered (Lambda's "done with the invocation").
        self.idle = False
        # The /event/next currently waiting (a newer one replaces it).
        self.waiter = None


class Extensions:
    def __init__(self, info, log):
        self.info = info
        self.log = log
        self.exts = []
        self.problem = None
        self.shutting_down = False
        self.cond = threading.Condition()
        self.server = None

    @property
    def count(self):
        return len(self.exts)

    # ---- lifecycle ----

    def start(self, files):
        owner = self

        class Handler(ExtensionHandler):
            extensions = owner

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        env = dict(os.environ)
        env["AWS_LAMBDA_RUNTIME_API"] = "127.0.0.1:%d" % self.server.server_address[1]
        for f in files:
            ext = Ext(f)
            self.exts.append(ext)
            try:
                # Their output is the function's log, as on Lambda; the channel is not inherited.
                ext.proc = subprocess.Popen(
                    [f], env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
                )
            except OSError as e:
                ext.exited = True
                self.fail(ext, "could not start: %s" % (e.strerror or e))
                continue
            threading.Thread(target=self.pump, args=(ext,), daemon=True).start()
            threading.Thread(target=self.watch, args=(ext,), daemon=True).start()
        # Init waits until every extension registered and asked for its first event, within a bound.
        with self.cond:
            ready = self.cond.wait_for(
                lambda: all(e.exited or (e.id is not None and e.idle) for e in self.exts), REGISTER_BOUND_S
            )
            if not ready:
                for e in self.exts:
                    if e.exited:
                        continue
                    if e.id is None:
                        self.fail(e, "did not register")
                    elif not e.idle:
                        self.fail(e, "did not call /event/next")

    def pump(self, ext):
        """Copies an extension's output to the log (until every process holding it open has ended)."""
        fd = ext.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            self.log(data.decode("utf-8", "replace"))

    def watch(self, ext):
        """Notes an extension's exit; one that exits before the shutdown has failed."""
        code = ext.proc.wait()
        with self.cond:
            ext.exited = True
            if not self.shutting_down:
                self.fail(ext, "exited (%s)" % (code if code >= 0 else signal_name(-code)))
            self.cond.notify_all()

    def invoke(self, request_id, deadline_ms, arn, trace):
        """Delivers INVOKE to the extensions that asked for it."""
        ev = {
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace or ""},
        }
        with self.cond:
            for e in self.exts:
                if "INVOKE" in e.events and e.id is not None and not e.exited:
                    self.deliver(e, ev)

    def settled(self, deadline_ms):
        """Waits until every registered extension asked for its next event again (done with the last
        invocation), up to that invocation's deadline; False (the environment to be retired) when one did not."""
        with self.cond:
            ok = self.cond.wait_for(
                lambda: all(e.exited or e.id is None or e.idle for e in self.exts),
                max(0.001, deadline_ms / 1000.0 - time.time()),
            )
            if not ok:
                for e in self.exts:
                    if not e.idle and not e.exited and e.id is not None:
                        self.fail(e, "did not call /event/next")
            return ok

    def shutdown(self, reason):
        """SHUTDOWN to those that asked for it, then up to Lambda's 2 s grace for all to exit, then kill."""
        with self.cond:
            self.shutting_down = True
            ev = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": int((time.time() + SHUTDOWN_GRACE_S) * 1000)}
            for e in self.exts:
                if "SHUTDOWN" in e.events and e.id is not None and not e.exited:
                    self.deliver(e, ev)
            self.cond.wait_for(lambda: all(e.exited for e in self.exts), SHUTDOWN_GRACE_S)
        for e in self.exts:
            if not e.exited and e.proc is not None:
                try:
                    e.proc.kill()
                except OSError:
                    pass

    # ---- under self.cond ----

    def fail(self, e, why):
        name = e.name or e.base
        self.log("EXTENSION\tName: %s\tState: Failed\tReason: %s\n" % (name, why))
        if self.problem is None:
            self.problem = "extension %s %s" % (name, why)

    def deliver(self, e, ev):
        e.idle = False
        e.queued.append(ev)
        self.cond.notify_all()


def signal_name(n):
    import signal

    try:
        return signal.Signals(n).name
    except ValueError:
        return "signal %d" % n


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, addr, handler):
        self.active = 0
        self.active_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self.active_lock:
            full = self.active >= MAX_CONNECTIONS
            if not full:
                self.active += 1
        if full:
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.active_lock:
                self.active -= 1

    def handle_error(self, request, client_address):
        pass  # a client that went away; nothing to report


class ExtensionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_S
    extensions = None  # set by Extensions.start

    def log_message(self, format, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (an oversized head, a malformed request line) in the API's JSON shape,
        with a status line even for a request that did not name its HTTP version."""
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        try:
            self.error(code, "InvalidRequest", message or "Bad request")
        except OSError:
            pass

    def answer(self, status, body, headers=None):
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, error_type, message):
        self.answer(status, {"errorMessage": message, "errorType": error_type})

    def read_body(self):
        """The body, or None when it was refused (answered and the connection closed)."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self.error(400, "InvalidRequest", "Send the body with a Content-Length.")
            return None
        try:
            n = int(length) if length is not None else 0
        except ValueError:
            n = -1
        if n < 0 or n > BODY_LIMIT:
            self.close_connection = True
            self.error(413 if n > BODY_LIMIT else 400, "InvalidRequest", "Bad or oversized body.")
            return None
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        body = self.read_body()
        if body is None:
            return
        x = self.extensions
        path = self.path.split("?", 1)[0]
        if method == "POST" and path == API + "/register":
            return self.register(x, body)
        ident = self.headers.get("Lambda-Extension-Identifier")
        with x.cond:
            ext = next((e for e in x.exts if ident is not None and e.id == ident), None)
        if ext is None:
            return self.error(403, "Extension.Unknown", "Unknown Lambda-Extension-Identifier.")
        if method == "GET" and path == API + "/event/next":
            return self.next_event(x, ext)
        if method == "POST" and path in (API + "/init/error", API + "/exit/error"):
            kind = "an init" if path.endswith("init/error") else "an exit"
            error_type = (self.headers.get("Lambda-Extension-Function-Error-Type") or "")[:128]
            with x.cond:
                x.fail(ext, "reported %s error %s" % (kind, error_type))
            return self.answer(202, {"status": "OK"})
        self.error(404, "InvalidRequest", "No such operation: %s %s" % (method, path[:256]))

    def register(self, x, body):
        name = self.headers.get("Lambda-Extension-Name")
        if not name:
            return self.error(400, "InvalidRequest", "Lambda-Extension-Name header is required.")
        try:
            events = json.loads(body or b"{}").get("events", [])
        except (ValueError, AttributeError):
            return self.error(400, "InvalidRequest", "The body is not a JSON object.")
        if not isinstance(events, list) or not all(v in ("INVOKE", "SHUTDOWN") for v in events):
            return self.error(400, "InvalidRequest", "events may hold INVOKE and SHUTDOWN only.")
        with x.cond:
            # Lambda matches an external extension by its file name.
            ext = next((e for e in x.exts if e.id is None and e.base == name), None)
            if ext is not None:
                ext.id = str(uuid.uuid4())
                ext.name = name
                ext.events = set(events)
                x.cond.notify_all()
        if ext is None:
            return self.error(403, "Extension.Unknown", "No unregistered extension named %s." % name[:256])
        self.answer(200, x.info, {"Lambda-Extension-Identifier": ext.id})

    def next_event(self, x, ext):
        me = object()
        with x.cond:
            ext.idle = True
            ext.waiter = me
            x.cond.notify_all()
            x.cond.wait_for(lambda: ext.queued or ext.waiter is not me)
            if ext.waiter is not me:
                ev = None
            else:
                ext.waiter = None
                ev = ext.queued.pop(0)
                ext.idle = False
        if ev is None:
            return self.error(409, "InvalidRequest", "A newer /event/next of this extension replaced this one.")
        self.answer(200, ev, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})


def start(info, log):
    """The environment's extensions, started with their API; None (nothing started) when there are none."""
    try:
        names = sorted(os.listdir(DIR))
    except OSError:
        return None
    files = [os.path.join(DIR, n) for n in names if os.path.isfile(os.path.join(DIR, n))]
    if not files:
        return None
    x = Extensions(info, log)
    x.start(files)
    return x
