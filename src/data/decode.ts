/**
 * Bytes -> text, refusing what is not UTF-8 and naming what it is instead.
 *
 * Accepted: UTF-8, with or without a UTF-8 byte order mark (stripped, reported as a warning). Refused with a named
 * reason: UTF-16/UTF-32 (byte order mark, or NUL bytes in alternate positions), GBK/GB18030 Chinese text (invalid as
 * UTF-8 but valid as GB18030 with mostly CJK characters), other invalid UTF-8 (first bad byte's line and column), and
 * binary data (NUL bytes).
 */
import { isUtf8 } from 'node:buffer';
import type { Problem } from './problems.ts';

export interface Decoded {
  /** The bytes without a UTF-8 BOM. */
  bytes: Buffer;
  warnings: string[];
}

/** Checks the encoding of a whole file; returns the problem when it is not acceptable UTF-8. */
export function checkEncoding(buf: Buffer, file: string): Decoded | Problem {
  const warnings: string[] = [];
  if (buf.length >= 4 && ((buf[0] === 0xff && buf[1] === 0xfe && buf[2] === 0 && buf[3] === 0) || (buf[0] === 0 && buf[1] === 0 && buf[2] === 0xfe && buf[3] === 0xff))) {
    return { file, line: 1, message: `file is UTF-32 (byte order mark ${hex(buf.subarray(0, 4))}); save it as UTF-8` };
  }
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return { file, line: 1, message: 'file is UTF-16LE (byte order mark FF FE); save it as UTF-8' };
  if (buf.length >= 2 && buf[0] === 0xfe && buf[1] === 0xff) return { file, line: 1, message: 'file is UTF-16BE (byte order mark FE FF); save it as UTF-8' };
  let bytes = buf;
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
    bytes = buf.subarray(3);
    warnings.push(`${file}: a UTF-8 byte order mark (EF BB BF) at the start was removed`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    const sample = bytes.subarray(0, Math.min(bytes.length, 4096));
    let zerosOdd = 0, zerosEven = 0;
    for (let i = 0; i < sample.length; i++) if (sample[i] === 0) { if (i & 1) zerosOdd++; else zerosEven++; }
    const half = sample.length / 2;
    if (zerosOdd > half * 0.3 && zerosEven < half * 0.05) return { file, line: 1, message: 'file looks like UTF-16LE without a byte order mark; save it as UTF-8' };
    if (zerosEven > half * 0.3 && zerosOdd < half * 0.05) return { file, line: 1, message: 'file looks like UTF-16BE without a byte order mark; save it as UTF-8' };
    const { line, column } = lineCol(bytes, nul);
    return { file, line, message: `binary data: NUL byte at column ${column} (byte offset ${nul}); expected UTF-8 text` };
  }
  if (isUtf8(bytes)) return { bytes, warnings };
  const bad = firstInvalidUtf8(bytes);
  const { line, column } = lineCol(bytes, bad);
  if (looksLikeGb18030(bytes)) {
    return { file, line, message: `file is not UTF-8: it looks like GBK/GB18030-encoded Chinese text (first non-UTF-8 byte at column ${column}); convert it to UTF-8 (e.g. iconv -f GB18030 -t UTF-8)` };
  }
  return { file, line, message: `invalid UTF-8: byte ${hex(bytes.subarray(bad, bad + 1))} at column ${column} (byte offset ${bad + (bytes === buf ? 0 : 3)}) is not valid UTF-8` };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** 1-based line and column (in bytes) of a byte offset. */
export function lineCol(buf: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1, start = 0;
  for (let i = 0; i < offset && i < buf.length; i++) if (buf[i] === 0x0a) { line++; start = i + 1; }
  return { line, column: offset - start + 1 };
}

/** Offset of the first byte that starts an invalid UTF-8 sequence (assumes there is one). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number, min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; } else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; } else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; } else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}

function looksLikeGb18030(b: Buffer): boolean {
  let text: string;
  try {
    text = new TextDecoder('gb18030', { fatal: true }).decode(b.subarray(0, Math.min(b.length, 1 << 20)));
  } catch {
    return false;
  }
  let high = 0, cjk = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) continue;
    high++;
    if ((cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xff00 && cp <= 0xffef)) cjk++;
  }
  return high > 0 && cjk / high > 0.8;
}
