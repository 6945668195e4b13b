/** What the plugin shows besides its report, by where its output goes. Pure. */

/**
 * Colours only when stdout is a terminal, and never when NO_COLOR is set to anything but the empty
 * string (https://no-color.org): a report piped to a file or another program stays plain text.
 */
export function colourWanted(stdoutIsTerminal: boolean, env: NodeJS.ProcessEnv): boolean {
  return stdoutIsTerminal && (env.NO_COLOR ?? '') === '';
}

/**
 * Where to say how a long read is going: one line on stderr, rewritten in place, only when stderr is a
 * terminal (in a pipe or a CI log it would only be noise). Undefined clears the line.
 */
export function progressLine(
  stderrIsTerminal: boolean,
  write: (text: string) => void,
): ((text: string | undefined) => void) | undefined {
  if (!stderrIsTerminal) return undefined;
  return (text) => {
    write(`\r\u001b[K${text ?? ''}`);
  };
}

/** `read 3 pools, 1200 blocks, 5000 pods…`: how many objects of each list have arrived so far. */
export function progressText(counts: ReadonlyMap<string, number>): string {
  const lists = [...counts].map(([what, count]) => `${count} ${what}`);
  return `read ${lists.join(', ')}…`;
}
