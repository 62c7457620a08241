// EventBridge's error catalogue, as the JSON 1.1 protocol carries it (`__type`, HTTP 400 for client errors).
import { KindlingError } from '../../errors.js';

export const EventsErrors = {
  validation: (message: string) => new KindlingError('ValidationException', 400, message),
  invalidExpression: () =>
    new KindlingError('ValidationException', 400, 'Parameter ScheduleExpression is not valid.'),
  ruleNotFound: (name: string) =>
    new KindlingError('ResourceNotFoundException', 400, `Rule ${name} does not exist on EventBus default.`),
  busNotFound: (name: string) =>
    new KindlingError('ResourceNotFoundException', 400, `Event bus ${name} does not exist.`),
  hasTargets: () =>
    new KindlingError('ValidationException', 400, "Rule can't be deleted since it has targets."),
  limitExceeded: (message: string) => new KindlingError('LimitExceededException', 400, message),
  unknownOperation: (target: string) =>
    new KindlingError('UnknownOperationException', 400, `Unknown operation ${target}`),
  serialization: (message: string) => new KindlingError('SerializationException', 400, message),
  internal: () => new KindlingError('InternalException', 500, 'An internal error occurred.'),
};
