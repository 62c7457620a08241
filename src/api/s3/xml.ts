// The small XML dialect the S3 API speaks: a builder for responses and a strict, minimal parser for
// the few request bodies (DeleteObjects, CompleteMultipartUpload, notification configuration).
// No DTDs or entity definitions are accepted, so nothing in a body can expand or reach a file.
import { S3Errors } from '../../events/objects/errors.js';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

export type XmlValue = string | number | boolean | Date | undefined | null | XmlElement | XmlValue[];
export interface XmlElement {
  [tag: string]: XmlValue;
}

export function escapeXml(s: string): string {
  // Control characters (legal in S3 keys) become character references so the document stays parseable.
  return s.replace(/[&<>"']|\p{Cc}/gu, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case "'":
        return '&apos;';
      case '\t':
      case '\n':
      case '\r':
        return c;
      default:
        return `&#x${c.charCodeAt(0).toString(16)};`;
    }
  });
}

function render(tag: string, v: XmlValue): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map((x) => render(tag, x)).join('');
  if (v instanceof Date) return `<${tag}>${v.toISOString()}</${tag}>`;
  if (typeof v === 'object') {
    const inner = Object.entries(v)
      .map(([k, x]) => render(k, x))
      .join('');
    return `<${tag}>${inner}</${tag}>`;
  }
  return `<${tag}>${escapeXml(String(v))}</${tag}>`;
}

/** `<?xml ...?><Root xmlns="...">...</Root>`; arrays repeat their tag, undefined fields are left out. */
export function xmlDocument(root: string, body: XmlElement, ns = true): string {
  const inner = Object.entries(body)
    .map(([k, x]) => render(k, x))
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns ? ` xmlns="${S3_NS}"` : ''}>${inner}</${root}>`;
}

export interface XmlNode {
  name: string;
  children: XmlNode[];
  text: string;
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const code = e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    if (!Number.isFinite(code) || code > 0x10ffff) throw S3Errors.malformedXml();
    return String.fromCodePoint(code);
  });
}

/** Parses a document into a tree of elements (namespace prefixes dropped); MalformedXML otherwise. */
export function parseXml(text: string): XmlNode {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw S3Errors.malformedXml();
  const src = text
    .replace(/^\uFEFF/, '')
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!--[\s\S]*?-->/g, '');
  const root: XmlNode = { name: '#root', children: [], text: '' };
  const stack: XmlNode[] = [root];
  const token =
    /<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = token.exec(src); m; m = token.exec(src)) {
    const top = stack[stack.length - 1]!;
    if (m[1] !== undefined) top.text += m[1];
    else if (m[7] !== undefined) throw S3Errors.malformedXml();
    else if (m[6] !== undefined) top.text += decodeEntities(m[6]);
    else {
      const name = m[3]!.replace(/^[^:]*:/, '');
      if (m[2]) {
        if (stack.length === 1 || top.name !== name) throw S3Errors.malformedXml();
        stack.pop();
      } else {
        const node: XmlNode = { name, children: [], text: '' };
        top.children.push(node);
        if (!m[5]) stack.push(node);
      }
    }
  }
  const doc = root.children[0];
  if (stack.length !== 1 || !doc || root.children.length !== 1 || root.text.trim() !== '')
    throw S3Errors.malformedXml();
  return doc;
}

export const childrenOf = (n: XmlNode, name: string): XmlNode[] => n.children.filter((c) => c.name === name);
export const childOf = (n: XmlNode, name: string): XmlNode | undefined =>
  n.children.find((c) => c.name === name);
export const textOf = (n: XmlNode, name: string): string | undefined => childOf(n, name)?.text;
