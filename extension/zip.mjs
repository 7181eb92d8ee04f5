// A zip archive writer (deflate, UTF-8 names, fixed timestamps so the same files give the same bytes): what the
// Chrome Web Store and "Load unpacked" take. Pure: files in, bytes out.
import { crc32, deflateRawSync } from 'node:zlib';

const DOS_TIME = 0, DOS_DATE = (1 << 5) | 1; // 1980-01-01 00:00

/** @param {Array<{ name: string, data: Buffer | Uint8Array | string }>} files  @returns {Buffer} */
export function zip(files) {
  const locals = [], centrals = [];
  let offset = 0;
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!f.name || f.name.startsWith('/') || f.name.split('/').includes('..')) throw new Error(`zip: bad entry name ${JSON.stringify(f.name)}`);
    const name = Buffer.from(f.name, 'utf8');
    const data = typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : Buffer.from(f.data);
    const packed = deflateRawSync(data, { level: 9 });
    const stored = packed.length >= data.length;
    const body = stored ? data : packed;
    const crc = crc32(data);
    const head = (central) => {
      const b = Buffer.alloc(central ? 46 : 30);
      let o = 0;
      const u32 = (v) => { b.writeUInt32LE(v >>> 0, o); o += 4; };
      const u16 = (v) => { b.writeUInt16LE(v, o); o += 2; };
      u32(central ? 0x02014b50 : 0x04034b50);
      if (central) u16(20);
      u16(20); u16(0x0800); u16(stored ? 0 : 8); u16(DOS_TIME); u16(DOS_DATE);
      u32(crc); u32(body.length); u32(data.length); u16(name.length); u16(0);
      if (central) { u16(0); u16(0); u16(0); u32(0); u32(offset); }
      return b;
    };
    const local = Buffer.concat([head(false), name, body]);
    centrals.push(Buffer.concat([head(true), name]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length, 8);
  end.writeUInt16LE(centrals.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
