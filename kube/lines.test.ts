import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from './lines.js';

/** Feeds `text` to `splitter` cut at `cuts` (offsets into it) and returns every line it gave. */
function feed(splitter: LineSplitter, text: string, cuts: readonly number[]): string[] {
  const offsets = [...new Set([0, ...cuts, text.length])].sort((a, b) => a - b);
  return offsets.slice(1).flatMap((end, index) => splitter.push(text.slice(offsets[index], end)));
}

/** A watch event as the API server writes it: one line of JSON. */
const eventLine = fc
  .record({ type: fc.constantFrom('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK'), object: fc.jsonValue() })
  .map((event) => JSON.stringify(event));
/** Lines as a stream may carry them: padded, blank, or with the \r of a CRLF. */
const streamLine = fc.oneof(
  eventLine,
  fc
    .tuple(fc.constantFrom('', ' ', '\t', '\r'), eventLine, fc.constantFrom('', ' ', '\r'))
    .map((parts) => parts.join('')),
  fc.constantFrom('', ' ', '\r'),
);
const cutsOf = (text: string) => fc.array(fc.nat({ max: text.length }), { maxLength: text.length + 1 });

describe('LineSplitter', () => {
  it.each([
    ['one event in one chunk', ['{"a":1}\n'], ['{"a":1}']],
    ['an event cut mid-way', ['{"a"', ':1}\n'], ['{"a":1}']],
    ['two events in one chunk', ['{"a":1}\n{"b":2}\n'], ['{"a":1}', '{"b":2}']],
    ['the newline alone in the second chunk', ['{"a":1}', '\n'], ['{"a":1}']],
    ['blank lines and CRLF', ['\n \r\n{"a":1}\r\n\n'], ['{"a":1}']],
    ['an unfinished last line, kept back', ['{"a":1}\n{"b"'], ['{"a":1}']],
    ['nothing', [''], []],
  ])('splits %s', (_what, chunks, lines) => {
    const splitter = new LineSplitter();
    expect(chunks.flatMap((chunk) => splitter.push(chunk))).toEqual(lines);
  });

  it('gives each finished line, trimmed, blank ones left out, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(streamLine, { maxLength: 8 }).chain((lines) => {
          const text = lines.map((line) => `${line}\n`).join('');
          return fc.tuple(fc.constant(lines), fc.constant(text), cutsOf(text));
        }),
        ([lines, text, cuts]) => {
          expect(feed(new LineSplitter(), text, cuts)).toEqual(
            lines.map((line) => line.trim()).filter((line) => line !== ''),
          );
        },
      ),
    );
  });

  it('holds back a last line without its newline, and gives it once the newline comes', () => {
    fc.assert(
      fc.property(
        fc.array(eventLine, { minLength: 1, maxLength: 4 }).chain((lines) => {
          const text = lines.join('\n');
          return fc.tuple(fc.constant(lines), fc.constant(text), cutsOf(text));
        }),
        ([lines, text, cuts]) => {
          const splitter = new LineSplitter();
          expect(feed(splitter, text, cuts)).toEqual(lines.slice(0, -1));
          expect(splitter.push('\n')).toEqual(lines.slice(-1));
        },
      ),
    );
  });
});
