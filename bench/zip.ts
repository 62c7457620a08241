// Builds a one-file function zip in memory for the bench.
import yazl from 'yazl';

export function zipHandler(code: string | Buffer, file = 'index.js', mode?: number): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.isBuffer(code) ? code : Buffer.from(code), file, mode === undefined ? {} : { mode });
  return bytesOf(zip);
}

/** A function zip of several files (path → text). */
export function zipFiles(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, text] of Object.entries(files)) zip.addBuffer(Buffer.from(text), name);
  return bytesOf(zip);
}

/** Ends the zip and collects its bytes. */
function bytesOf(zip: yazl.ZipFile): Promise<Buffer> {
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}
