// S3 Select's error codes (all HTTP 400 on the wire): before the answer starts they are S3's XML error,
// once it has started they travel as an event-stream error message with the same code and message.
import { ObjectStoreError } from '../errors.js';

const e = (code: string, message: string) => new ObjectStoreError(code, message);

export const SelectErrors = {
  // ---- the SQL text ----
  lexer: (what: string, line: number, col: number) =>
    e(
      'LexerInvalidChar',
      `The SQL expression contains an invalid character ${what} at line ${line}, column ${col}.`,
    ),
  lexerLiteral: (line: number, col: number) =>
    e(
      'LexerInvalidLiteral',
      `The SQL expression contains an invalid literal at line ${line}, column ${col}.`,
    ),
  unexpectedToken: (token: string, line: number, col: number) =>
    e(
      'ParseUnexpectedToken',
      `Unexpected token ${token} at line ${line}, column ${col} of the SQL expression.`,
    ),
  expectedExpression: (line: number, col: number) =>
    e(
      'ParseExpectedExpression',
      `An expression was expected at line ${line}, column ${col} of the SQL expression.`,
    ),
  missingFrom: () => e('ParseSelectMissingFrom', 'The SQL expression has no FROM clause.'),
  unsupportedSyntax: (what: string) =>
    e(
      'ParseUnsupportedSyntax',
      `The SQL expression uses syntax Kindling's S3 Select does not support: ${what}.`,
    ),
  unsupportedOperation: (what: string) =>
    e(
      'UnsupportedSqlOperation',
      `The SQL expression uses an operation Kindling's S3 Select does not support: ${what}.`,
    ),
  unsupportedStructure: (what: string) => e('UnsupportedSqlStructure', `Unsupported SQL structure: ${what}.`),
  invalidColumnIndex: (index: string) =>
    e('InvalidColumnIndex', `The column index ${index} is invalid: positional columns start at _1.`),
  invalidDataSource: (name: string) =>
    e('InvalidDataSource', `The FROM clause names ${name}; only S3Object can be queried.`),
  castArity: () => e('ParseCastArity', 'CAST takes one expression and one type: CAST(expression AS type).'),
  invalidType: (name: string) => e('ParseInvalidTypeParam', `${name} is not a type CAST can convert to.`),
  tooLong: () =>
    e('ExpressionTooLong', 'The SQL expression is too long: the most it may have is 256 KB (262,144 bytes).'),
  // ---- evaluating it ----
  bindingDoesNotExist: (name: string) =>
    e('EvaluatorBindingDoesNotExist', `The column or path ${name} in the SQL expression does not exist.`),
  ambiguousFieldName: (name: string) =>
    e('AmbiguousFieldName', `The name ${name} matches more than one column of the object's header.`),
  castFailed: (value: string, type: string) =>
    e('CastFailed', `CAST of ${JSON.stringify(value.slice(0, 64))} to ${type} failed.`),
  invalidDataType: (what: string) =>
    e('InvalidDataType', `The SQL expression uses a wrong data type: ${what}.`),
  likeInvalid: () => e('LikeInvalidInputs', 'LIKE was given inputs that are not strings, or a bad ESCAPE.'),
  // ---- the request ----
  invalidExpressionType: () =>
    e('InvalidExpressionType', 'The ExpressionType is invalid. Only SQL expressions are supported.'),
  missingParameter: (name: string) =>
    e(
      'MissingRequiredParameter',
      `The SelectObjectContentRequest is missing the required parameter ${name}.`,
    ),
  invalidParameter: (name: string, value: string) =>
    e('InvalidRequestParameter', `The value ${JSON.stringify(value.slice(0, 64))} is not valid for ${name}.`),
  invalidFileHeaderInfo: () =>
    e('InvalidFileHeaderInfo', 'FileHeaderInfo must be one of USE, IGNORE or NONE.'),
  invalidQuoteFields: () => e('InvalidQuoteFields', 'QuoteFields must be ALWAYS or ASNEEDED.'),
  invalidCompression: () => e('InvalidCompressionFormat', 'CompressionType must be NONE or GZIP.'),
  // ---- the object ----
  overMaxRecordSize: () =>
    e(
      'OverMaxRecordSize',
      'The length of a record in the input or result is greater than the maximum of 1 MB.',
    ),
  csvParsing: (record: number) =>
    e('CSVParsingError', `The object could not be parsed as CSV (record ${record}).`),
  jsonParsing: (record: number) =>
    e('JSONParsingError', `The object could not be parsed as JSON lines (record ${record}).`),
  invalidTextEncoding: () =>
    e('InvalidTextEncoding', 'The object is not valid UTF-8 text: S3 Select reads UTF-8 only.'),
  gzip: () => e('InvalidCompressionFormat', 'The object is not valid GZIP data.'),
} as const;
