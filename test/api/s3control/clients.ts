// Unmodified S3 and S3 Control clients for S3 Control and Object Lambda tests. Both SDKs put the account
// (S3 Control) or `<access point>-<account>` (an ARN as Bucket) in front of the endpoint's host, and refuse an
// IP address there: the endpoint is `localhost`, and an agent whose lookup answers loopback for every name
// under it (a client-side setting; /etc/hosts entries or a wildcard DNS name do the same for users).
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { S3ControlClient } from '@aws-sdk/client-s3-control';

interface Target {
  endpoint: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

const loopback: LookupFunction = (_host, opts, cb) => {
  if (opts.all)
    (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  else cb(null, '127.0.0.1', 4);
};

export const loopbackAgent = (): http.Agent => new http.Agent({ keepAlive: true, lookup: loopback });

/** `http://127.0.0.1:PORT` → `http://localhost:PORT`: a name the SDK can put a prefix in front of. */
export const hostEndpoint = (endpoint: string): string => endpoint.replace('127.0.0.1', 'localhost');

export function controlClient(t: Target): S3ControlClient {
  return new S3ControlClient({
    endpoint: hostEndpoint(t.endpoint),
    region: t.region ?? 'us-east-1',
    credentials: t.credentials,
    maxAttempts: 1,
    requestHandler: { httpAgent: loopbackAgent() },
  });
}

/** For ARN buckets (virtual-host style by construction); `pathStyle` for plain bucket names. */
export function arnS3Client(t: Target, pathStyle = false): S3Client {
  return new S3Client({
    forcePathStyle: pathStyle,
    endpoint: hostEndpoint(t.endpoint),
    region: t.region ?? 'us-east-1',
    credentials: t.credentials,
    maxAttempts: 1,
    requestHandler: { httpAgent: loopbackAgent() },
  });
}
