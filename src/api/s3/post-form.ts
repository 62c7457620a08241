// The multipart/form-data body of an S3 POST object upload, read as a stream: the fields before the
// `file` field are buffered (capped, as S3 caps them), the file's bytes stream on without being held.
import { ObjectStoreError } from '../../events/objects/errors.js';

/** S3 refuses a POST whose fields before the file exceed 20 KB. */
export const MAX_PRE_FILE_BYTES = 20 * 1024;

export const FormErrors = {
  malformed: () =>
    new ObjectStoreError(
      'MalformedPOSTRequest',
      'The body of your POST request is not well-formed multipart/form-data.',
    ),
  tooLargePreData: () =>
    new ObjectStoreError(
      'MaxPostPreDataLengthExceeded',
      'Your POST request fields preceding the upload file were too large.',
      { MaxPostPreDataLengthBytes: MAX_PRE_FILE_BYTES },
    ),
  oneFile: () =>
    new ObjectStoreError('InvalidArgument', 'POST requires exactly one file upload per request.', {
      ArgumentName: 'file',
      ArgumentValue: '0',
    }),
  fileNotLast: () =>
    new ObjectStoreError('InvalidArgument', 'The file or text content must be the last field in the form.', {
      ArgumentName: 'file',
      ArgumentValue: '',
    }),
};

export interface PostForm {
  /** Fields before the file, by lower-case name (S3 matches form field names case-insensitively). */
  fields: Map<string, string>;
  /** The file part's `filename` (what `${filename}` in the key stands for); '' when none was sent. */
  filename: string;
  /**
   * The file's bytes. It fails with `fileNotLast` when another field follows the file, and with
   * MalformedPOSTRequest when the body ends before its closing boundary: a store write reading it commits nothing.
   */
  file: AsyncGenerator<Buffer>;
}

/** The boundary of a `multipart/form-data` content type, or undefined when it is another type. */
export function formBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : '';
}

/** Reads the fields up to the file part; the caller must consume (or return) `file`. */
export async function readPostForm(body: AsyncIterable<Buffer>, boundary: string): Promise<PostForm> {
  if (!boundary) throw FormErrors.malformed();
  const it = body[Symbol.asyncIterator]();
  let buf: Buffer = Buffer.alloc(0);
  let consumed = 0;
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const n = await it.next();
    if (n.done) {
      ended = true;
      return false;
    }
    buf = buf.length === 0 ? n.value : Buffer.concat([buf, n.value]);
    return true;
  };
  /** Bytes up to `token` (which is consumed too), within the pre-file cap. */
  const until = async (token: Buffer): Promise<Buffer> => {
    for (;;) {
      const at = buf.indexOf(token);
      if (at >= 0) {
        const out = buf.subarray(0, at);
        buf = buf.subarray(at + token.length);
        consumed += at + token.length;
        if (consumed > MAX_PRE_FILE_BYTES) throw FormErrors.tooLargePreData();
        return out;
      }
      if (consumed + buf.length > MAX_PRE_FILE_BYTES + token.length) throw FormErrors.tooLargePreData();
      if (!(await more())) throw FormErrors.malformed();
    }
  };
  const need = async (n: number): Promise<void> => {
    while (buf.length < n) if (!(await more())) throw FormErrors.malformed();
  };
  const dash = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // The preamble (before the first boundary) is ignored, as MIME says.
  await until(dash);
  const fields = new Map<string, string>();
  for (;;) {
    await need(2);
    const after = buf.subarray(0, 2).toString('latin1');
    buf = buf.subarray(2);
    if (after === '--') throw FormErrors.oneFile();
    if (after !== '\r\n') throw FormErrors.malformed();
    const head = (await until(Buffer.from('\r\n\r\n'))).toString('utf8');
    const part = partHeaders(head);
    if (part.name.toLowerCase() === 'file') {
      return { fields, filename: part.filename ?? '', file: fileBytes() };
    }
    const value = (await until(delimiter)).toString('utf8');
    const name = part.name.toLowerCase();
    // One value per field: a second one would let a form say two things to the policy and the upload.
    if (fields.has(name)) throw FormErrors.malformed();
    fields.set(name, value);
  }

  async function* fileBytes(): AsyncGenerator<Buffer> {
    for (;;) {
      const at = buf.indexOf(delimiter);
      if (at >= 0) {
        if (at > 0) yield buf.subarray(0, at);
        buf = buf.subarray(at + delimiter.length);
        await need(2);
        const after = buf.subarray(0, 2).toString('latin1');
        if (after === '--') return;
        if (after === '\r\n') throw FormErrors.fileNotLast();
        throw FormErrors.malformed();
      }
      // Keep what could be the start of the delimiter; the rest is file content.
      const safe = buf.length - (delimiter.length - 1);
      if (safe > 0) {
        const out = buf.subarray(0, safe);
        buf = buf.subarray(safe);
        yield out;
      }
      if (!(await more())) throw FormErrors.malformed();
    }
  }
}

/** `Content-Disposition: form-data; name="..."; filename="..."` of one part (other headers ignored). */
function partHeaders(head: string): { name: string; filename: string | undefined } {
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue;
    const v = line.slice(colon + 1);
    if (!/^\s*form-data\s*(;|$)/i.test(v)) throw FormErrors.malformed();
    const param = (p: string) => {
      const m = new RegExp(`;\\s*${p}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(v);
      return m === null ? undefined : (m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? '');
    };
    const name = param('name');
    if (name === undefined || name === '') throw FormErrors.malformed();
    return { name, filename: param('filename') };
  }
  throw FormErrors.malformed();
}
