/**
 * What a terminal shows after `text` is written to it, line by line: `\r` goes back to the start
 * of the line, ESC [K erases from the cursor to its end, `\n` starts a new line, anything else
 * overwrites the character under the cursor. Enough to see what a progress line leaves behind.
 */
export function terminalScreen(text: string): string[] {
  const lines = [''];
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const row = lines.length - 1;
    const line = lines[row] as string;
    if (text.startsWith('\x1b[K', i)) {
      lines[row] = line.slice(0, col);
      i += 2;
    } else if (text[i] === '\r') col = 0;
    else if (text[i] === '\n') {
      lines.push('');
      col = 0;
    } else {
      lines[row] = line.slice(0, col) + text[i] + line.slice(col + 1);
      col += 1;
    }
  }
  return lines;
}
