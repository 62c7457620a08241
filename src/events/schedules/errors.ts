// The schedules' error catalogue; the EventBridge surface (api/eventbridge/errors.ts) gives each code
// its wire type and status.
import { DomainError } from '../../errors.js';

export class SchedulesError extends DomainError {}

const e = (code: string, message: string) => new SchedulesError(code, message);

export const EventsErrors = {
  validation: (message: string) => e('Validation', message),
  invalidPattern: (message: string) => e('InvalidEventPattern', message),
  invalidExpression: () => e('Validation', 'Parameter ScheduleExpression is not valid.'),
  ruleNotFound: (name: string) => e('RuleNotFound', `Rule ${name} does not exist on EventBus default.`),
  busNotFound: (name: string) => e('EventBusNotFound', `Event bus ${name} does not exist.`),
  hasTargets: () => e('Validation', "Rule can't be deleted since it has targets."),
  limitExceeded: (message: string) => e('LimitExceeded', message),
  unknownOperation: (target: string) => e('UnknownOperation', `Unknown operation ${target}`),
  serialization: (message: string) => e('Serialization', message),
  internal: () => e('InternalFailure', 'An internal error occurred.'),
} as const;
