// Thumbnail function: on each S3 "object created" event, reads the PNG with the ordinary AWS SDK v3
// S3 client, scales it down and writes it to `<bucket>-thumbnails` (or $THUMBNAIL_BUCKET).
'use strict';
// The SDK looks for ~/.aws config files; give it a HOME if the environment has none.
process.env.HOME = process.env.HOME || '/tmp';
const { GetObjectCommand, PutObjectCommand, S3Client } = require('@aws-sdk/client-s3');
const { decode, encode, resize } = require('./png.js');

// AWS_ENDPOINT_URL, AWS_REGION and short-lived credentials come from the platform, as on Lambda.
const s3 = new S3Client({ forcePathStyle: true });
const MAX = Number(process.env.THUMBNAIL_MAX_SIZE || 128);

exports.handler = async (event) => {
  const results = [];
  for (const record of event.Records || []) {
    const bucket = record.s3.bucket.name;
    // Event keys are form-encoded: `+` is a space.
    const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
    if (!key.toLowerCase().endsWith('.png')) {
      console.log(`skipping ${key}: not a PNG`);
      continue;
    }
    const target = process.env.THUMBNAIL_BUCKET || `${bucket}-thumbnails`;
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const image = decode(Buffer.from(await got.Body.transformToByteArray()));
    const thumb = resize(image, MAX);
    await s3.send(
      new PutObjectCommand({
        Bucket: target,
        Key: key,
        Body: encode(thumb),
        ContentType: 'image/png',
        Metadata: { 'source-bucket': bucket, 'source-size': `${image.width}x${image.height}` },
      }),
    );
    console.log(`${bucket}/${key} ${image.width}x${image.height} -> ${target}/${key} ${thumb.width}x${thumb.height}`);
    results.push({ key, width: thumb.width, height: thumb.height });
  }
  return results;
};
