// CloudWatch Logs filter patterns on unstructured text: terms (all must occur), "quoted phrases",
// -exclusions (none may occur) and ?optional terms (at least one must occur when any are given), matched
// case-sensitively as substrings of the message. JSON (`{ $.level = "ERROR" }`), space-delimited
// (`[ip, user, ...]`) and regular-expression (`%...%`) patterns are refused, naming them.
import { LogsErrors } from './errors.js';

export type EventMatcher = (message: string) => boolean;

interface Term {
  text: string;
  kind: 'all' | 'none' | 'any';
}

function parseTerms(pattern: string): Term[] {
  const terms: Term[] = [];
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    let kind: Term['kind'] = 'all';
    if (c === '-' || c === '?') {
      kind = c === '-' ? 'none' : 'any';
      i++;
    }
    let text = '';
    if (pattern[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const d = pattern[i]!;
        if (d === '\\' && i + 1 < n) {
          text += pattern[i + 1];
          i += 2;
          continue;
        }
        i++;
        if (d === '"') {
          closed = true;
          break;
        }
        text += d;
      }
      if (!closed) throw LogsErrors.invalidParameter('Invalid filter pattern: a quoted term is not closed.');
    } else {
      while (i < n && !/\s/.test(pattern[i]!)) {
        if (pattern[i] === '"')
          throw LogsErrors.invalidParameter('Invalid filter pattern: a quote inside an unquoted term.');
        text += pattern[i];
        i++;
      }
    }
    if (text === '' && kind !== 'all')
      throw LogsErrors.invalidParameter(`Invalid filter pattern: '${c}' must be followed by a term.`);
    if (text !== '') terms.push({ text, kind });
  }
  return terms;
}

/** The matcher for a filter pattern; an empty pattern (or `""`) matches every event. */
export function compileFilterPattern(pattern: string | undefined): EventMatcher {
  const p = (pattern ?? '').trim();
  if (p.startsWith('{'))
    throw LogsErrors.invalidParameter(
      'JSON filter patterns ({ $.field = value }) are not supported by Kindling; use terms, "quoted phrases", -exclusions and ?alternatives.',
    );
  if (p.startsWith('['))
    throw LogsErrors.invalidParameter(
      'Space-delimited filter patterns ([field, ...]) are not supported by Kindling; use terms, "quoted phrases", -exclusions and ?alternatives.',
    );
  if (p.startsWith('%'))
    throw LogsErrors.invalidParameter(
      'Regular-expression filter patterns (%...%) are not supported by Kindling; use terms, "quoted phrases", -exclusions and ?alternatives.',
    );
  const terms = parseTerms(p);
  if (terms.length === 0) return () => true;
  const all = terms.filter((t) => t.kind === 'all').map((t) => t.text);
  const none = terms.filter((t) => t.kind === 'none').map((t) => t.text);
  const any = terms.filter((t) => t.kind === 'any').map((t) => t.text);
  return (m) =>
    all.every((t) => m.includes(t)) &&
    !none.some((t) => m.includes(t)) &&
    (any.length === 0 || any.some((t) => m.includes(t)));
}
