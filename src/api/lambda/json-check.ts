// Is a payload JSON? Lambda refuses an Invoke whose payload is not, but the platform never needs the
// parsed value: this scans the bytes once with an explicit stack and builds no objects. It accepts
// exactly what `JSON.parse(payload.toString('utf8'))` accepts (invalid UTF-8 inside a string decodes
// to U+FFFD there, which JSON allows; anywhere else a byte >= 0x80 is an error for both).

enum C {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Slash = 0x2f,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  OpenSq = 0x5b,
  Backslash = 0x5c,
  CloseSq = 0x5d,
  OpenCurly = 0x7b,
  CloseCurly = 0x7d,
}

const isDigit = (b: number): boolean => b >= C.Zero && b <= C.Nine;
const isHex = (b: number): boolean =>
  (b >= C.Zero && b <= C.Nine) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const ESCAPES = new Set([C.Quote, C.Backslash, C.Slash, 0x62, 0x66, 0x6e, 0x72, 0x74]); // " \ / b f n r t

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** True when the bytes are one JSON text (RFC 8259, as JSON.parse reads it). */
export function isJson(b: Uint8Array): boolean {
  const n = b.length;
  let i = 0;
  // One entry per open container: true for an object, false for an array.
  const stack: boolean[] = [];

  const ws = (): void => {
    while (i < n) {
      const c = b[i]!;
      if (c !== C.Space && c !== C.Tab && c !== C.Lf && c !== C.Cr) return;
      i++;
    }
  };
  const literal = (word: Buffer): boolean => {
    if (i + word.length > n) return false;
    for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return false;
    i += word.length;
    return true;
  };
  const string = (): boolean => {
    i++; // the opening quote
    while (i < n) {
      const c = b[i++]!;
      if (c === C.Quote) return true;
      if (c < 0x20) return false;
      if (c === C.Backslash) {
        if (i >= n) return false;
        const e = b[i++]!;
        if (e === 0x75) {
          if (i + 4 > n) return false;
          for (let k = 0; k < 4; k++) if (!isHex(b[i + k]!)) return false;
          i += 4;
        } else if (!ESCAPES.has(e)) return false;
      }
    }
    return false;
  };
  const digits = (): boolean => {
    const start = i;
    while (i < n && isDigit(b[i]!)) i++;
    return i > start;
  };
  const number = (): boolean => {
    if (b[i] === C.Minus) i++;
    if (i >= n) return false;
    if (b[i] === C.Zero) i++;
    else if (!digits()) return false;
    if (b[i] === C.Dot) {
      i++;
      if (!digits()) return false;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === C.Plus || b[i] === C.Minus) i++;
      if (!digits()) return false;
    }
    return true;
  };

  for (;;) {
    // A value is expected here.
    ws();
    if (i >= n) return false;
    const c = b[i]!;
    if (c === C.OpenCurly || c === C.OpenSq) {
      const obj = c === C.OpenCurly;
      i++;
      ws();
      if (b[i] === (obj ? C.CloseCurly : C.CloseSq)) {
        i++;
      } else {
        stack.push(obj);
        if (obj) {
          if (b[i] !== C.Quote || !string()) return false;
          ws();
          if (b[i++] !== C.Colon) return false;
        }
        continue;
      }
    } else if (c === C.Quote) {
      if (!string()) return false;
    } else if (c === C.Minus || isDigit(c)) {
      if (!number()) return false;
    } else if (!literal(c === 0x74 ? TRUE : c === 0x66 ? FALSE : NULL)) {
      return false;
    }
    // A value ended: close containers, or expect the next member or element.
    for (;;) {
      ws();
      if (stack.length === 0) return i === n;
      const obj = stack[stack.length - 1]!;
      const d = b[i++];
      if (d === (obj ? C.CloseCurly : C.CloseSq)) {
        stack.pop();
        continue;
      }
      if (d !== C.Comma) return false;
      if (obj) {
        ws();
        if (b[i] !== C.Quote || !string()) return false;
        ws();
        if (b[i++] !== C.Colon) return false;
      }
      break;
    }
  }
}
