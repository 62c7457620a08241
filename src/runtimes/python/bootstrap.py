"""Kindling's Python runtime inside a sandbox (stdlib only).

Speaks the framed channel of runtimes/node/protocol.ts on the descriptor KINDLING_CHANNEL names (fd:3), so
the host side (NodeProcess, NodeEnvironment) is the Node runtime's, unchanged. Two phases, kept apart so a
zygote can later fork between them: load_runtime() initialises the interpreter (imports, logging, stream
and SDK hooks) and touches nothing of a sandbox; serve() starts the platform API relay, says "ready",
then binds one function (imports its handler) and serves its invocations one at a time.

Errors, context and logs follow Lambda's Python runtime (awslambdaric): the same error types and messages,
requestId and stackTrace in the error body, and logging records as "[LEVEL]\\ttimestamp\\trequestId\\tmsg".

Idle environments are many, so the runtime imports little: _socket and _thread rather than socket and
threading (whose enums and helpers cost ~0.6 MB), logging and traceback only when used.
"""

import _socket
import _thread
import binascii
import errno
import importlib
import json
import os
import struct
import sys
import time

# Lambda's synchronous response limit (bytes); a larger answer is refused here, before the channel.
RESPONSE_LIMIT = 6291556
# Lambda cuts log events at 256 KB; the host refuses frames over 7 MB.
LOG_EVENT_LIMIT = 256 * 1024
# The handler's own frames are trimmed off tracebacks, as Lambda does.
THIS_FILE = os.path.basename(__file__)


# ---- the channel: [u32 header length][u32 body length][JSON header][body], little-endian ----


class Channel:
    def __init__(self, fd):
        self.sock = _socket.socket(fileno=fd)
        # User threads may print while the main thread answers: one writer at a time.
        self.lock = _thread.allocate_lock()

    def send(self, header, body=b""):
        if isinstance(body, str):
            body = body.encode("utf-8", "replace")
        h = json.dumps(header, separators=(",", ":")).encode()
        with self.lock:
            self.sock.sendall(struct.pack("<II", len(h), len(body)) + h + body)

    def frames(self):
        """Yields (header, body) until the host closes the channel."""
        buf = bytearray()
        while True:
            while len(buf) < 8:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return
                buf += chunk
            hlen, blen = struct.unpack_from("<II", buf)
            end = 8 + hlen + blen
            if len(buf) < end:
                # A large frame (a 6 MB event) is read straight into one buffer of its size, not grown by
                # concatenation (quadratic copying).
                whole = bytearray(end)
                whole[: len(buf)] = buf
                view = memoryview(whole)
                got = len(buf)
                while got < end:
                    n = self.sock.recv_into(view[got:])
                    if n == 0:
                        return
                    got += n
                view.release()
                buf = whole
            header = json.loads(buf[8 : 8 + hlen])
            body = bytes(buf[8 + hlen : end])
            del buf[:end]
            yield header, body


channel = None
current_id = None


def send_log(text):
    """One log event of the current request (or of init, or between requests: the host sorts them)."""
    if channel is None or text == "":
        return
    data = text.encode("utf-8", "replace")
    if len(data) > LOG_EVENT_LIMIT:
        data = data[:LOG_EVENT_LIMIT] + b"[truncated]\n"
    channel.send({"t": "log", "id": current_id}, data)


# ---- print and sys.stdout/stderr: whole lines as log events, the rest flushed before each answer ----


class LogStream:
    """A text stream whose lines become log events; print() writes the text and the newline separately."""

    encoding = "utf-8"
    errors = "replace"
    closed = False

    def __init__(self, name):
        self.name = name
        self.pending = []
        self.pending_len = 0
        # Code that writes bytes (sys.stdout.buffer.write) reaches the same log.
        self.buffer = ByteLogStream(self)

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        nl = s.rfind("\n")
        if nl < 0:
            self.pending.append(s)
            self.pending_len += len(s)
            # A long line without a newline is sent anyway: memory stays bounded.
            if self.pending_len > LOG_EVENT_LIMIT:
                self.flush()
            return len(s)
        head = "".join(self.pending) + s[: nl + 1]
        rest = s[nl + 1 :]
        self.pending = [rest] if rest else []
        self.pending_len = len(rest)
        send_log(head)
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            self.pending_len = 0
            send_log(text)

    def isatty(self):
        return False

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def fileno(self):
        # The native descriptors still exist (subprocesses inherit them); writes there reach the sandbox's
        # own output, not the request's log.
        return 1 if self.name == "stdout" else 2


class ByteLogStream:
    closed = False

    def __init__(self, text):
        self.text = text

    def write(self, b):
        self.text.write(bytes(b).decode("utf-8", "replace"))
        return len(b)

    def flush(self):
        self.text.flush()

    def writable(self):
        return True

    def fileno(self):
        return self.text.fileno()


def setup_logging(logging):
    """
    As on Lambda, the root logger has a handler (so basicConfig() does nothing) writing records as
    "[LEVEL]\ttimestamp\trequestId\tmessage", at level WARNING unless AWS_LAMBDA_LOG_LEVEL says otherwise.
    Done when the function first imports logging, not before: an idle environment does not carry the module.
    """

    class LambdaLogHandler(logging.Handler):
        def emit(self, record):
            try:
                send_log(self.format(record))
            except Exception:
                self.handleError(record)

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = current_id or ""
            return True

    logging.Formatter.converter = time.gmtime
    handler = LambdaLogHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)
    apply_log_level()


def apply_log_level():
    logging = sys.modules.get("logging")
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if logging is not None and level in logging._nameToLevel:
        logging.getLogger().setLevel(level)


class PostImport:
    """Runs a setup function right after the first import of a module, whoever imports it."""

    def __init__(self, hooks):
        self.hooks = hooks

    def find_spec(self, name, path=None, target=None):
        hook = self.hooks.get(name)
        if hook is None:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_hook(module):
            exec_module(module)
            hook(module)

        spec.loader.exec_module = exec_and_hook
        return spec


# ---- boto3 with AWS_ENDPOINT_URL ----


def patch_botocore(session_module):
    """
    Botocore before 1.31 ignores AWS_ENDPOINT_URL (Debian 12 ships 1.29): clients created without an
    endpoint_url get the one the environment names, as newer botocore and the AWS SDKs do, so boto3 reaches
    the platform through the relay.
    """
    botocore = sys.modules.get("botocore")
    try:
        version = tuple(int(p) for p in botocore.__version__.split(".")[:2])
    except Exception:
        return
    if version >= (1, 31):
        return
    original = session_module.Session.create_client

    def create_client(self, service_name, *args, **kwargs):
        if kwargs.get("endpoint_url") is None and len(args) < 4:
            ignore = os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true"
            key = "AWS_ENDPOINT_URL_" + str(service_name).upper().replace("-", "_").replace(" ", "_")
            url = None if ignore else os.environ.get(key) or os.environ.get("AWS_ENDPOINT_URL")
            if url:
                kwargs["endpoint_url"] = url
        return original(self, service_name, *args, **kwargs)

    session_module.Session.create_client = create_client


# ---- errors in Lambda's shape ----


class Fault(Exception):
    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.msg = message
        self.trace = trace


def make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def user_frames(tb):
    """The traceback from the first frame outside this file (the handler's), as Lambda trims it."""
    import traceback

    frames = traceback.extract_tb(tb)
    for i, f in enumerate(frames):
        if os.path.basename(f.filename) != THIS_FILE:
            return frames[i:]
    return frames


def fault_of(exc, request_id=None):
    if isinstance(exc, Fault):
        return make_error(exc.msg, exc.error_type, exc.trace, request_id)
    import traceback

    trace = traceback.format_list(user_frames(exc.__traceback__))
    return make_error(str(exc), type(exc).__name__, trace, request_id)


def log_error(err):
    """Lambda's text-format error event: one line, the traceback's lines joined by carriage returns."""
    desc = "[ERROR]"
    if err["errorType"]:
        desc += " " + err["errorType"]
    if err["errorMessage"]:
        desc += (":" if err["errorType"] else "") + " " + err["errorMessage"]
    lines = [desc, "Traceback (most recent call last):"]
    for element in err["stackTrace"]:
        lines.extend(element.splitlines() or [""])
    send_log("\r".join(lines) + "\n")


# ---- the response: JSON as Lambda's Python runtime encodes it ----


class Encoder(json.JSONEncoder):
    def default(self, o):
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(o, decimal.Decimal):
            # simplejson (Lambda's encoder) writes a Decimal as its number; json has no raw numbers.
            if o.is_nan():
                return float("nan")
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def to_json(value):
    # Lambda's python3.12 runtime writes non-ASCII characters as they are; the others escape them.
    ascii_only = os.environ.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
    return Encoder(ensure_ascii=ascii_only).encode(value)


def marshal(result):
    if isinstance(result, bytes):
        return result
    try:
        return to_json(result).encode("utf-8")
    except Exception as e:
        raise Fault("Runtime.MarshalError", "Unable to marshal response: {}".format(e))


# ---- the handler ----


def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", "Unable to import module '{}': {}".format(modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '{}': {}".format(modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(fname, modname))


# ---- Lambda's context object ----


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


def from_dict(cls, d):
    if d is None:
        return None
    o = cls()
    for field in cls.__slots__:
        setattr(o, field, d.get(field) if isinstance(d, dict) else None)
    return o


class LambdaContext:
    def __init__(self, request_id, deadline_ms, client_context, bound):
        self.aws_request_id = request_id
        self.log_group_name = bound["logGroupName"]
        self.log_stream_name = bound["logStreamName"]
        self.function_name = bound["functionName"]
        # A string, as Lambda's runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
        self.memory_limit_in_mb = str(bound["memoryMB"])
        self.function_version = bound["functionVersion"]
        self.invoked_function_arn = bound["invokedFunctionArn"]
        self.client_context = from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = from_dict(Client, self.client_context.client)
        self.identity = from_dict(CognitoIdentity, {})
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        left = self._deadline_ms - int(time.time() * 1000)
        return left if left > 0 else 0

    def log(self, msg):
        send_log(str(msg))


# ---- memory: the resident set after each answer (Max Memory Used) ----


class Statm:
    def __init__(self):
        self.page = os.sysconf("SC_PAGE_SIZE")
        try:
            self.fd = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self.fd = -1

    def rss(self):
        if self.fd < 0:
            return 0
        try:
            return int(os.pread(self.fd, 128, 0).split()[1]) * self.page
        except Exception:
            return 0


# ---- the platform API relay: 127.0.0.1:<port> (and [::1]) → the API's unix socket ----


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Either side gone: end both, so the other direction's recv returns too.
        for s in (src, dst):
            try:
                s.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass


def relay_connection(client, api_socket):
    upstream = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        upstream.connect(api_socket)
    except OSError:
        client.close()
        upstream.close()
        return
    client.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    left = [2]
    lock = _thread.allocate_lock()

    def run(src, dst):
        pipe(src, dst)
        # The last direction to end closes both: a descriptor is never closed under the other's recv.
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            client.close()
            upstream.close()

    _thread.start_new_thread(run, (upstream, client))
    run(client, upstream)


def accept_loop(server, api_socket):
    while True:
        try:
            fd, _ = server._accept()
        except OSError as e:
            if e.errno in (errno.EBADF, errno.EINVAL):
                return
            # Out of descriptors: wait for connections to close rather than spin.
            time.sleep(0.05)
            continue
        _thread.start_new_thread(relay_connection, (_socket.socket(fileno=fd), api_socket))


def listener(family, host, port):
    s = _socket.socket(family, _socket.SOCK_STREAM)
    s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    return s


def start_relay(port, api_socket):
    """Listens on the API's own port (as relay.ts does), on ::1 too when this loopback has it."""
    servers = [listener(_socket.AF_INET, "127.0.0.1", port)]
    got = servers[0].getsockname()[1]
    if port != 0:
        try:
            servers.append(listener(_socket.AF_INET6, "::1", got))
        except OSError:
            pass
    for s in servers:
        _thread.start_new_thread(accept_loop, (s, api_socket))
    return got


# ---- phase 1: load the runtime (no sandbox, no function) ----


def load_runtime():
    sys.dont_write_bytecode = True
    sys.stdout = LogStream("stdout")
    sys.stderr = LogStream("stderr")
    sys.meta_path.insert(0, PostImport({"logging": setup_logging, "botocore.session": patch_botocore}))

    # Run once what every invoke runs. Not the error path: formatting a traceback loads traceback, ast and
    # this file's lines (~0.6 MB an idle environment would carry for nothing); the first error pays for it.
    marshal({"warm": [1, 2.5, "x", None, True]})
    json.loads('{"warm": [1, 2.5, "x", null, true]}')


# ---- the compile cache: bytecode the host compiled for this version (pycache_build.py) ----


def use_compile_cache(task_root, cache_root):
    """From now on, modules under the task root load their bytecode from cache_root when it is intact and
    current (the source's mtime and size, as CPython checks a .pyc); otherwise they compile as before.
    Returns the counts the init frame reports."""
    import _imp
    import marshal
    from importlib.machinery import (
        BYTECODE_SUFFIXES,
        EXTENSION_SUFFIXES,
        SOURCE_SUFFIXES,
        ExtensionFileLoader,
        FileFinder,
        SourceFileLoader,
        SourcelessFileLoader,
    )
    from importlib.util import MAGIC_NUMBER

    prefix = task_root.rstrip("/") + "/"
    suffix = "." + sys.implementation.cache_tag + ".pyc"
    stats = {"used": 0, "rejected": 0}
    code_type = type(use_compile_cache.__code__)

    def cached_code(path):
        try:
            with open(cache_root + "/" + path[len(prefix) : -3] + suffix, "rb") as f:
                data = f.read()
        except OSError:
            return None
        try:
            st = os.stat(path)
            pyc = memoryview(data)[8:]
            ok = (
                data[:4] == b"KPYC"
                and binascii.crc32(pyc) & 0xFFFFFFFF == int.from_bytes(data[4:8], "little")
                and bytes(pyc[:4]) == MAGIC_NUMBER
                and int.from_bytes(pyc[4:8], "little") == 0
                and int.from_bytes(pyc[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
                and int.from_bytes(pyc[12:16], "little") == st.st_size & 0xFFFFFFFF
            )
            code = marshal.loads(pyc[16:]) if ok else None
        except Exception:  # marshal's errors on damaged data vary
            code = None
        if not isinstance(code, code_type):
            stats["rejected"] += 1
            return None
        _imp._fix_co_filename(code, path)
        stats["used"] += 1
        return code

    class CachedSourceLoader(SourceFileLoader):
        def get_code(self, fullname):
            path = self.get_filename(fullname)
            if path.startswith(prefix) and path.endswith(".py"):
                code = cached_code(path)
                if code is not None:
                    return code
            return super().get_code(fullname)

    # The default finder's loaders, with the source loader replaced; finders made before are dropped.
    sys.path_hooks.insert(
        0,
        FileFinder.path_hook(
            (ExtensionFileLoader, EXTENSION_SUFFIXES),
            (CachedSourceLoader, SOURCE_SUFFIXES),
            (SourcelessFileLoader, BYTECODE_SUFFIXES),
        ),
    )
    sys.path_importer_cache.clear()
    return stats


# ---- phase 2: serve one environment ----


def start_extensions(h):
    """The function's extensions (extensions.py beside this file, loaded only now: a function without
    /opt/extensions never imports it, nor http.server, threading or subprocess)."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "extensions.py")
    spec = importlib.util.spec_from_file_location("_kindling_extensions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = {"functionName": h["functionName"], "functionVersion": h["functionVersion"], "handler": h["handler"]}
    return module.start(info, send_log)


class Environment:
    def __init__(self, chan):
        self.chan = chan
        self.handler = None
        self.bound = None
        self.statm = Statm()
        # The function's extensions (/opt/extensions); None for most functions, which pay nothing.
        self.extensions = None
        # The deadline of the last invocation, until its extensions are known to be done with it.
        self.unsettled = None

    def bind(self, h):
        global current_id
        current_id = None
        self.bound = h
        env = h.get("env") or {}
        for k in list(os.environ):
            if k not in env:
                del os.environ[k]
        os.environ.update(env)
        task_root = h["taskRoot"]
        apply_log_level()
        cc = None
        try:
            if h.get("cache"):
                cc = use_compile_cache(task_root, h["cache"])
            os.chdir(task_root)
            # Extensions start first and register before the handler's init runs, as on Lambda.
            if os.path.isdir("/opt/extensions"):
                self.extensions = start_extensions(h)
            # Lambda's order: the function's code, then layers, then the runtime's (and boto3's) paths.
            ver = "python%d.%d" % sys.version_info[:2]
            sys.path[0:0] = [task_root, "/opt/python/lib/%s/site-packages" % ver, "/opt/python"]
            importlib.invalidate_caches()
            self.handler = load_handler(h["handler"])
        except Exception as e:
            err = fault_of(e)
            log_error(err)
            flush_streams()
            self.chan.send({"t": "init", "ok": False, "errorType": err["errorType"]}, to_json(err))
            return
        flush_streams()
        answer = {"t": "init", "ok": True}
        if cc is not None:
            answer["cc"] = cc
        if self.extensions is not None:
            answer["ext"] = self.extensions.count
        self.chan.send(answer)

    def invoke(self, h, body):
        global current_id
        rid = h["id"]
        if self.handler is None or self.bound is None:
            self.chan.send(
                {"t": "result", "id": rid, "ok": False, "errorType": "Runtime.Unknown", "rss": 0},
                '{"errorType":"Runtime.Unknown"}',
            )
            return
        creds = h.get("creds")
        if creds is not None:
            os.environ["AWS_ACCESS_KEY_ID"] = creds["accessKeyId"]
            os.environ["AWS_SECRET_ACCESS_KEY"] = creds["secretAccessKey"]
            os.environ["AWS_SESSION_TOKEN"] = creds["sessionToken"]
        if isinstance(h.get("tr"), str):
            os.environ["_X_AMZN_TRACE_ID"] = h["tr"]
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        current_id = rid
        err = None
        out = b""
        try:
            client_context = None
            if h.get("cc"):
                try:
                    client_context = json.loads(binascii.a2b_base64(h["cc"]))
                except Exception as e:
                    raise Fault("Runtime.LambdaContextUnmarshalError", "Unable to parse Client Context JSON: %s" % e)
            try:
                event = json.loads(body) if body else {}
            except Exception as e:
                raise Fault("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(e))
            context = LambdaContext(rid, h["deadline"], client_context, self.bound)
            out = marshal(self.handler(event, context))
            if len(out) > RESPONSE_LIMIT:
                raise Fault(
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (%d bytes)." % RESPONSE_LIMIT,
                )
        except Exception as e:
            err = fault_of(e, rid)
            if err["errorType"] != "Function.ResponseSizeTooLarge":
                log_error(err)
        flush_streams()
        rss = self.statm.rss()
        if err is None:
            answer = {"t": "result", "id": rid, "ok": True, "rss": rss}
        else:
            if err["errorType"] == "Function.ResponseSizeTooLarge":
                err = {"errorMessage": err["errorMessage"], "errorType": err["errorType"]}
            answer = {"t": "result", "id": rid, "ok": False, "errorType": err["errorType"], "rss": rss}
            out = to_json(err)
        if self.extensions is not None:
            # An extension that crashed or never finished retires the environment after this answer.
            if self.extensions.problem is not None:
                answer["fatal"] = True
            self.unsettled = h["deadline"]
        self.chan.send(answer, out)
        current_id = None

    def invoke_with_extensions(self, h, body):
        """The previous invocation ends when every extension asked for its next event again (bounded by its
        deadline); then this one's INVOKE goes to them, and the handler runs. That hold was the previous
        invocation's time: this deadline moves on by it, and the host, told so, sets its timer to match."""
        x = self.extensions
        arrived = int(time.time() * 1000)
        if self.unsettled is not None:
            x.settled(self.unsettled)
            self.unsettled = None
        h["deadline"] += int(time.time() * 1000) - arrived
        self.chan.send({"t": "start", "id": h["id"], "deadline": h["deadline"]})
        x.invoke(h["id"], h["deadline"], (self.bound or {}).get("invokedFunctionArn", ""), h.get("tr"))
        self.invoke(h, body)


def flush_streams():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


def serve(channel_fd):
    global channel
    channel = Channel(channel_fd)
    try:
        port = start_relay(
            int(os.environ.get("KINDLING_RELAY_PORT", "9001")),
            os.environ.get("KINDLING_API_SOCKET", "/run/kindling/api.sock"),
        )
        channel.send({"t": "ready", "relayPort": port})
    except Exception as e:
        channel.send({"t": "ready", "relayPort": 0, "relayError": str(e)})
    env = Environment(channel)
    for header, body in channel.frames():
        t = header.get("t")
        if t == "invoke":
            if env.extensions is None:
                env.invoke(header, body)
            else:
                env.invoke_with_extensions(header, body)
        elif t == "bind":
            env.bind(header)
        elif t == "ping":
            channel.send({"t": "pong", "n": header["n"]})
        elif t == "shutdown":
            # The environment is retired: extensions get SHUTDOWN and Lambda's grace, then the runtime exits.
            if env.extensions is not None:
                env.extensions.shutdown(header.get("reason", "spindown"))
            flush_streams()
            os._exit(0)
    # The host is gone: nothing left to serve (daemon threads end with the process).
    os._exit(0)


def channel_fd():
    spec = os.environ.get("KINDLING_CHANNEL", "fd:3")
    return int(spec[3:]) if spec.startswith("fd:") else 3


if __name__ == "__main__":
    load_runtime()
    serve(channel_fd())
