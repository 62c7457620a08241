// S3 Object Lambda: a GetObject through the Object Lambda access point answers the CSV object filtered to
// the rows a query asks for, with one column redacted. The query is `column=value`: the user request's
// `where` query-string parameter, else the access point's payload ({"where": ..., "redact": ...}).
import { S3Client, WriteGetObjectResponseCommand } from '@aws-sdk/client-s3';

const s3 = new S3Client({});

export const handler = async (event) => {
  const { inputS3Url, outputRoute, outputToken } = event.getObjectContext;
  const config = JSON.parse(event.configuration.payload || '{}');
  const where = new URL(event.userRequest.url).searchParams.get('where') ?? config.where;
  const answer = (fields) =>
    s3.send(
      new WriteGetObjectResponseCommand({ RequestRoute: outputRoute, RequestToken: outputToken, ...fields }),
    );

  // The original object, through the supporting access point (a presigned URL: no credentials needed).
  const original = await fetch(inputS3Url);
  if (!original.ok) {
    await answer({
      StatusCode: original.status,
      ErrorCode: 'OriginalNotRead',
      ErrorMessage: `The original object answered ${original.status}`,
    });
    return { statusCode: original.status };
  }
  const [header = '', ...rows] = (await original.text()).split('\n').filter((line) => line !== '');
  const columns = header.split(',');
  const [column, value] = (where ?? '').split('=');
  const match = columns.indexOf(column);
  if (where !== undefined && match < 0) {
    await answer({ StatusCode: 400, ErrorCode: 'UnknownColumn', ErrorMessage: `No column ${column}` });
    return { statusCode: 400 };
  }
  const redact = columns.indexOf(config.redact);
  const kept = rows
    .map((row) => row.split(','))
    .filter((cells) => match < 0 || cells[match] === value)
    .map((cells) => cells.map((cell, i) => (i === redact ? 'REDACTED' : cell)).join(','));

  await answer({ Body: [header, ...kept].join('\n') + '\n', ContentType: 'text/csv' });
  return { statusCode: 200 };
};
