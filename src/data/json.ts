/**
 * JSON helpers for validation: nesting depth and array element positions without recursion, and the line, column
 * and reason of a syntax error (Node's JSON.parse does not say where).
 */

export interface JsonScan {
  maxDepth: number;
  /** Offset where the depth first exceeded the limit, or -1. */
  tooDeepAt: number;
  /** Top-level array elements: [start, end) character offsets and 1-based start line. */
  elements: { start: number; end: number; line: number }[];
  topLevel: 'array' | 'object' | 'other' | 'empty';
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** One pass over (syntactically valid or not) JSON text: depth and the top-level array's element ranges. */
export function scanJson(text: string, depthLimit = Infinity): JsonScan {
  let depth = 0, maxDepth = 0, tooDeepAt = -1, line = 1;
  let inString = false, escape = false;
  const elements: JsonScan['elements'] = [];
  let elemStart = -1, elemLine = 0, lastNonWs = -1;
  let topLevel: JsonScan['topLevel'] = 'empty';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) line++;
    if (inString) {
      if (escape) escape = false;
      else if (c === 0x5c) escape = true;
      else if (c === 0x22) { inString = false; lastNonWs = i; }
      continue;
    }
    if (WS.has(c)) continue;
    if (topLevel === 'empty') topLevel = c === 0x5b ? 'array' : c === 0x7b ? 'object' : 'other';
    if (depth === 1 && topLevel === 'array' && elemStart < 0 && c !== 0x5d && c !== 0x2c) { elemStart = i; elemLine = line; }
    if (c === 0x22) { inString = true; continue; }
    if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
      if (depth > depthLimit && tooDeepAt < 0) tooDeepAt = i;
    } else if (c === 0x5d || c === 0x7d) {
      if (depth === 1 && topLevel === 'array' && elemStart >= 0) { elements.push({ start: elemStart, end: lastNonWs + 1, line: elemLine }); elemStart = -1; }
      depth--;
    } else if (c === 0x2c && depth === 1 && topLevel === 'array' && elemStart >= 0) {
      elements.push({ start: elemStart, end: lastNonWs + 1, line: elemLine });
      elemStart = -1;
    }
    lastNonWs = i;
  }
  return { maxDepth, tooDeepAt, elements, topLevel };
}

/** Maximum nesting depth of a JSON text (cheap pre-check before JSON.parse). */
export function jsonDepth(text: string): number {
  let depth = 0, max = 0, inString = false, escape = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escape) escape = false;
      else if (c === 0x5c) escape = true;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) { if (++depth > max) max = depth; } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

export interface JsonSyntaxError { offset: number; line: number; column: number; message: string }

/** Parses JSON, or says where and why it is not JSON. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: JsonSyntaxError } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const found = locateJsonError(text) ?? { offset: 0, message: e instanceof Error ? e.message : String(e) };
    return { ok: false, error: { ...found, ...position(text, found.offset) } };
  }
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1, start = 0;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 0x0a) { line++; start = i + 1; }
  return { line, column: offset - start + 1 };
}

function describe(text: string, i: number): string {
  if (i >= text.length) return 'unexpected end of JSON (truncated?)';
  const ch = text[i];
  return `unexpected ${JSON.stringify(ch)}`;
}

/** A small validating parser (iterative) that finds the first syntax error; null when the text is valid. */
export function locateJsonError(text: string): { offset: number; message: string } | null {
  let i = 0;
  const n = text.length;
  const ws = () => { while (i < n && WS.has(text.charCodeAt(i))) i++; };
  // stack of containers: 'a' array, 'o' object
  const stack: ('a' | 'o')[] = [];
  const fail = (message: string, at = i) => ({ offset: at, message });
  const str = (): { offset: number; message: string } | null => {
    const start = i;
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) { i++; return null; }
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) return fail('unexpected end of JSON inside a string', i + 1);
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return fail('bad \\u escape in string');
          i += 6;
        } else if ('"\\/bfnrt'.includes(e)) i += 2;
        else return fail(`bad escape \\${e} in string`);
        continue;
      }
      if (c < 0x20) return fail(c === 0x0a ? 'unterminated string (newline inside a string)' : 'control character inside a string');
      i++;
    }
    return fail('unterminated string', start);
  };
  const scalar = (): { offset: number; message: string } | null => {
    const c = text[i];
    if (c === '"') return str();
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) return fail(describe(text, i));
    i += m[0].length;
    return null;
  };
  // expect a value
  let expectValue = true;
  for (;;) {
    ws();
    if (expectValue) {
      if (i >= n) return fail('unexpected end of JSON (truncated?)');
      const c = text[i];
      if (c === '[') {
        stack.push('a'); i++; ws();
        if (text[i] === ']') { i++; stack.pop(); expectValue = false; } else expectValue = true;
        continue;
      }
      if (c === '{') {
        stack.push('o'); i++; ws();
        if (text[i] === '}') { i++; stack.pop(); expectValue = false; continue; }
        if (text[i] !== '"') return fail(i >= n ? 'unexpected end of JSON (truncated?)' : `expected a property name in double quotes, found ${describe(text, i).replace('unexpected ', '')}`);
        const e = str(); if (e) return e;
        ws();
        if (text[i] !== ':') return fail(i >= n ? 'unexpected end of JSON (truncated?)' : `expected ':' after property name, found ${describe(text, i).replace('unexpected ', '')}`);
        i++;
        expectValue = true;
        continue;
      }
      const e = scalar(); if (e) return e;
      expectValue = false;
      continue;
    }
    // after a value
    if (stack.length === 0) {
      if (i < n) return fail(`unexpected ${JSON.stringify(text[i])} after the end of the JSON value`);
      return null;
    }
    if (i >= n) return fail('unexpected end of JSON (truncated?)');
    const top = stack[stack.length - 1];
    const c = text[i];
    if (c === ',') {
      i++; ws();
      if (top === 'o') {
        if (text[i] !== '"') return fail(i >= n ? 'unexpected end of JSON (truncated?)' : text[i] === '}' ? 'trailing comma before }' : `expected a property name in double quotes, found ${JSON.stringify(text[i])}`);
        const e = str(); if (e) return e;
        ws();
        if (text[i] !== ':') return fail(i >= n ? 'unexpected end of JSON (truncated?)' : `expected ':' after property name, found ${JSON.stringify(text[i])}`);
        i++;
      } else if (text[i] === ']') return fail('trailing comma before ]');
      expectValue = true;
      continue;
    }
    if ((c === ']' && top === 'a') || (c === '}' && top === 'o')) { stack.pop(); i++; continue; }
    return fail(`expected ',' or '${top === 'a' ? ']' : '}'}', found ${JSON.stringify(c)}`);
  }
}
