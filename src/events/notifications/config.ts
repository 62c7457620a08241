// Bucket notification configuration: which object changes invoke which function or go to which queue. Validated once here
// (from the API's XML and again when read back from the store), then matched against each change.
import { z } from 'zod';
import { isFunctionArn, isQueueArn } from '../../control/arn.js';
import { S3Errors } from '../objects/errors.js';

/** The event types S3 accepts in a configuration that Kindling produces. */
export const EVENT_TYPES = [
  's3:ObjectCreated:*',
  's3:ObjectCreated:Put',
  's3:ObjectCreated:Post',
  's3:ObjectCreated:Copy',
  's3:ObjectCreated:CompleteMultipartUpload',
  's3:ObjectRemoved:*',
  's3:ObjectRemoved:Delete',
  's3:ObjectRemoved:DeleteMarkerCreated',
  's3:LifecycleExpiration:*',
  's3:LifecycleExpiration:Delete',
  's3:LifecycleExpiration:DeleteMarkerCreated',
] as const;

const filterRule = z.object({
  // S3 accepts the rule names in any case and answers them as `Prefix` / `Suffix`.
  Name: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(['prefix', 'suffix'])),
  Value: z.string().max(1024),
});

const common = {
  Id: z.string().max(255).optional(),
  Events: z.array(z.enum(EVENT_TYPES)).min(1),
  Filter: z
    .object({ Key: z.object({ FilterRules: z.array(filterRule).max(2).default([]) }).optional() })
    .optional(),
};
const lambdaConfig = z.object({ ...common, LambdaFunctionArn: z.string().min(1) });
const queueConfig = z.object({ ...common, QueueArn: z.string().min(1) });

export const notificationConfigSchema = z.object({
  LambdaFunctionConfigurations: z.array(lambdaConfig).default([]),
  QueueConfigurations: z.array(queueConfig).default([]),
});

export type NotificationConfigInput = z.input<typeof notificationConfigSchema>;

/** What a configuration of either destination matches. */
export interface NotificationMatch {
  id: string;
  events: string[];
  prefix: string | undefined;
  suffix: string | undefined;
}

/** The stored, normalized form. */
export interface LambdaNotification extends NotificationMatch {
  functionArn: string;
}

export interface QueueNotification extends NotificationMatch {
  queueArn: string;
}

export interface NotificationConfig {
  lambda: LambdaNotification[];
  /** Absent in configurations stored before queue destinations existed. */
  queue?: QueueNotification[];
}

/** Validates a configuration as the API received it; errors are S3's InvalidArgument. */
export function normalizeConfig(input: unknown, newId: () => string): NotificationConfig {
  const parsed = notificationConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw S3Errors.invalidArgument(
      `Invalid notification configuration: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'malformed'}`,
    );
  }
  const ids = new Set<string>();
  const match = (c: z.output<typeof lambdaConfig> | z.output<typeof queueConfig>): NotificationMatch => {
    const rules = c.Filter?.Key?.FilterRules ?? [];
    const prefixes = rules.filter((r) => r.Name === 'prefix');
    const suffixes = rules.filter((r) => r.Name === 'suffix');
    if (prefixes.length > 1 || suffixes.length > 1) {
      throw S3Errors.invalidArgument(
        'Cannot specify more than one prefix rule in a filter.',
        'FilterRule',
        'prefix',
      );
    }
    const id = c.Id ?? newId();
    if (ids.has(id))
      throw S3Errors.invalidArgument(
        'Configuration is ambiguously defined. Cannot have two configurations with the same id.',
        'Id',
        id,
      );
    ids.add(id);
    return { id, events: [...new Set(c.Events)], prefix: prefixes[0]?.Value, suffix: suffixes[0]?.Value };
  };
  const lambda = parsed.data.LambdaFunctionConfigurations.map((c) => {
    if (!isFunctionArn(c.LambdaFunctionArn)) {
      throw S3Errors.invalidArgument('The ARN is not well formed', 'CloudFunction', c.LambdaFunctionArn);
    }
    return { ...match(c), functionArn: c.LambdaFunctionArn };
  });
  const queue = parsed.data.QueueConfigurations.map((c) => {
    if (!isQueueArn(c.QueueArn))
      throw S3Errors.invalidArgument('The ARN is not well formed', 'Queue', c.QueueArn);
    return { ...match(c), queueArn: c.QueueArn };
  });
  return { lambda, queue };
}

/** Does a configured event type (`s3:ObjectCreated:*`) cover a change (`ObjectCreated:Put`)? */
export function eventMatches(configured: string, eventName: string): boolean {
  const name = `s3:${eventName}`;
  if (configured === name) return true;
  return configured.endsWith(':*') && name.startsWith(configured.slice(0, -1));
}

export function configMatches(c: NotificationMatch, eventName: string, key: string): boolean {
  if (!c.events.some((e) => eventMatches(e, eventName))) return false;
  if (c.prefix !== undefined && !key.startsWith(c.prefix)) return false;
  if (c.suffix !== undefined && !key.endsWith(c.suffix)) return false;
  return true;
}
