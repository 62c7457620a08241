// S3's bucket notification configuration (`?notification`): Lambda function and SQS queue destinations
// (SNS topics are refused by name).
import type { NotificationConfig, NotificationMatch } from '../../events/notifications/config.js';
import { S3Errors } from '../../events/objects/errors.js';
import type { ApiResponse } from '../surface.js';
import { MAX_XML_BODY, requestBody, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { childOf, childrenOf, parseXml, textOf, type XmlElement, type XmlNode } from './xml.js';

const filterXml = (c: NotificationMatch): XmlElement | undefined =>
  c.prefix !== undefined || c.suffix !== undefined
    ? {
        S3Key: {
          FilterRule: [
            ...(c.prefix !== undefined ? [{ Name: 'Prefix', Value: c.prefix }] : []),
            ...(c.suffix !== undefined ? [{ Name: 'Suffix', Value: c.suffix }] : []),
          ],
        },
      }
    : undefined;

/** The notification configuration in S3's XML (Lambda configurations are `CloudFunctionConfiguration`). */
function notificationXml(config: NotificationConfig): XmlElement {
  return {
    QueueConfiguration: (config.queue ?? []).map((c) => ({
      Id: c.id,
      Queue: c.queueArn,
      Event: c.events,
      Filter: filterXml(c),
    })),
    CloudFunctionConfiguration: config.lambda.map((c) => ({
      Id: c.id,
      CloudFunction: c.functionArn,
      Event: c.events,
      Filter: filterXml(c),
    })),
  };
}

/** The XML request body turned into the API's JSON shape, which the notifications module validates. */
function notificationInput(doc: XmlNode): unknown {
  if (doc.name !== 'NotificationConfiguration') throw S3Errors.malformedXml();
  if (childOf(doc, 'TopicConfiguration'))
    throw S3Errors.invalidArgument(
      'TopicConfiguration destinations are not supported by this store; use LambdaFunctionConfigurations or QueueConfigurations',
      'TopicConfiguration',
      '',
    );
  const common = (c: XmlNode) => {
    const key = childOf(childOf(c, 'Filter') ?? { name: '', children: [], text: '' }, 'S3Key');
    return {
      Id: textOf(c, 'Id'),
      Events: childrenOf(c, 'Event').map((e) => e.text.trim()),
      Filter: key
        ? {
            Key: {
              FilterRules: childrenOf(key, 'FilterRule').map((r) => ({
                Name: textOf(r, 'Name') ?? '',
                Value: textOf(r, 'Value') ?? '',
              })),
            },
          }
        : undefined,
    };
  };
  return {
    LambdaFunctionConfigurations: childrenOf(doc, 'CloudFunctionConfiguration').map((c) => ({
      ...common(c),
      LambdaFunctionArn: textOf(c, 'CloudFunction') ?? '',
    })),
    QueueConfigurations: childrenOf(doc, 'QueueConfiguration').map((c) => ({
      ...common(c),
      QueueArn: textOf(c, 'Queue') ?? '',
    })),
  };
}

export async function putNotification(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  const text = (await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8');
  await d.notifications.putConfig(r.tenant, r.bucket, notificationInput(parseXml(text)));
  return { status: 200, headers: { 'x-amz-request-id': r.requestId } };
}

export async function getNotification(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  return xml(
    200,
    'NotificationConfiguration',
    notificationXml(await d.notifications.getConfig(r.bucket)),
    r.requestId,
  );
}
