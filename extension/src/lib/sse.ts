/**
 * Server-sent events as OpenAI-compatible servers stream them: `data:` lines, events ended by a blank line, a
 * `[DONE]` sentinel. The parser takes text in whatever pieces the network delivers and calls `onData` once per
 * event's data; `[DONE]` is not passed on. Pure: no network, no DOM.
 */
export interface SseParser {
  push(text: string): void;
  /** Hands on an event the stream ended without a blank line after. */
  end(): void;
}

export function sseParser(onData: (data: string) => void): SseParser {
  let buf = '';
  let data: string[] = [];
  const dispatch = () => {
    if (data.length) {
      const d = data.join('\n');
      data = [];
      if (d !== '[DONE]') onData(d);
    }
  };
  const line = (l: string) => {
    if (l === '') return dispatch();
    if (l.startsWith(':')) return; // a comment (heartbeat)
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    if (field === 'data') data.push(i < 0 ? '' : l.slice(i + 1).replace(/^ /, ''));
  };
  return {
    push(text) {
      buf += text;
      let nl: number;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const crlf = buf[nl] === '\r' && buf[nl + 1] === '\n';
        if (buf[nl] === '\r' && nl + 1 === buf.length) break; // a \r at the end may be half of \r\n
        line(buf.slice(0, nl));
        buf = buf.slice(nl + (crlf ? 2 : 1));
      }
    },
    end() {
      if (buf) line(buf.replace(/\r$/, ''));
      buf = '';
      dispatch();
    },
  };
}
