/**
 * Splits a stream of text into lines, whatever its chunk boundaries: a watch answers with one JSON
 * event per line, and the network cuts its body anywhere (mid-event, mid-character is the decoder's).
 */
export class LineSplitter {
  private buffered = '';

  /** The lines `chunk` completes, trimmed, blank ones left out; an unfinished line waits for the next chunk. */
  push(chunk: string): string[] {
    this.buffered += chunk;
    const lines: string[] = [];
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline).trim();
      this.buffered = this.buffered.slice(newline + 1);
      if (line !== '') lines.push(line);
    }
    return lines;
  }
}
