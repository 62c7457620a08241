// CreateBucket's `CreateBucketConfiguration`: the LocationConstraint a client asks for, checked against the
// one region this server is (S3 refuses a constraint its endpoint does not serve).
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { childOf, parseXml } from './xml.js';

/** The constraint in a CreateBucket body; undefined when there is no body or no (empty) constraint. */
export function locationConstraint(body: string): string | undefined {
  if (body.trim() === '') return undefined;
  const doc = parseXml(body);
  if (doc.name !== 'CreateBucketConfiguration') throw S3Errors.malformedXml();
  for (const c of doc.children)
    if (!['LocationConstraint', 'Location', 'Bucket', 'Tags'].includes(c.name)) throw S3Errors.malformedXml();
  // Directory buckets (Location, Bucket) are another kind of bucket; tags at creation another feature.
  if (childOf(doc, 'Location') || childOf(doc, 'Bucket'))
    throw S3Errors.notImplemented('CreateBucketConfiguration Location/Bucket (directory buckets)');
  if (childOf(doc, 'Tags')) throw S3Errors.notImplemented('CreateBucketConfiguration Tags');
  const text = childOf(doc, 'LocationConstraint')?.text.trim();
  return text === '' ? undefined : text;
}

export function checkLocationConstraint(constraint: string | undefined, region: string): void {
  if (constraint === undefined || constraint === region) {
    // us-east-1 is the absence of a constraint; S3 refuses it spelled out.
    if (constraint === 'us-east-1')
      throw new ObjectStoreError(
        'InvalidLocationConstraint',
        'The specified location-constraint is not valid',
        {
          LocationConstraint: constraint,
        },
      );
    return;
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(constraint) && constraint !== 'EU')
    throw new ObjectStoreError(
      'InvalidLocationConstraint',
      'The specified location-constraint is not valid',
      {
        LocationConstraint: constraint,
      },
    );
  throw new ObjectStoreError(
    'IllegalLocationConstraintException',
    `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`,
  );
}
