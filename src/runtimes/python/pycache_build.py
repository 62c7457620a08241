"""Builds the compile cache of a version's Python modules (runtimes/compile-cache.ts).

python3 -I -B pycache_build.py <code dir> <out dir>, run by the host with the interpreter its sandboxes
run. Compiles every .py file of the code, never imports one, into <out dir>/<relative path minus .py>.
<cache tag>.pyc, as the runtime's loader (bootstrap.py, use_compile_cache) expects: a private header,
b"KPYC" and the CRC-32 of the rest, then a timestamp .pyc as CPython writes one (magic, flags 0, the
source's mtime and size, marshalled code). The CRC is there because CPython runs bytecode as given.
"""
import binascii
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER

# Bounds on what a build compiles (compile() holds a file's whole AST); the rest compiles at import.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
TASK_ROOT = "/var/task"


def main(code_dir, out_dir):
    tag = sys.implementation.cache_tag
    total = 0
    built = 0
    for dirpath, dirnames, filenames in os.walk(code_dir):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, code_dir)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if not name.endswith(".py") or os.path.islink(path):
                continue
            st = os.stat(path)
            if st.st_size > MAX_FILE_BYTES or total + st.st_size > MAX_TOTAL_BYTES:
                continue
            total += st.st_size
            rel = os.path.normpath(os.path.join(rel_dir, name))
            with open(path, "rb") as f:
                source = f.read()
            try:
                # The name tracebacks show inside the sandbox; the loader sets the real one again.
                code = compile(source, TASK_ROOT + "/" + rel, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue  # the runtime reports it at import
            pyc = (
                MAGIC_NUMBER
                + (0).to_bytes(4, "little")
                + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
                + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
                + marshal.dumps(code)
            )
            target = os.path.join(out_dir, rel[:-3] + "." + tag + ".pyc")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(b"KPYC" + (binascii.crc32(pyc) & 0xFFFFFFFF).to_bytes(4, "little") + pyc)
            built += 1
    print("%d modules" % built)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
