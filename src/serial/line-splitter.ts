// Cuts a UART byte stream into lines on a delimiter. A line longer than the limit is passed on in
// pieces of that size rather than dropped, so no byte is lost and memory stays bounded.

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly delimiter: Buffer,
    private readonly maxLine: number,
    private readonly emit: (line: Buffer) => void,
  ) {
    if (delimiter.length === 0) throw new Error('the line delimiter cannot be empty');
    if (maxLine < 1) throw new Error('the line limit must be at least one byte');
  }

  push(chunk: Buffer): void {
    let data = this.pendingBytes > 0 ? Buffer.concat([...this.pending, chunk]) : chunk;
    this.pending = [];
    this.pendingBytes = 0;
    let start = 0;
    for (;;) {
      const at = data.indexOf(this.delimiter, start);
      if (at < 0) break;
      this.emitBounded(data.subarray(start, at));
      start = at + this.delimiter.length;
    }
    data = data.subarray(start);
    // Keep what may still be the start of a delimiter; pass on whole pieces of an over-long line.
    while (data.length - (this.delimiter.length - 1) >= this.maxLine) {
      this.emit(Buffer.from(data.subarray(0, this.maxLine)));
      data = data.subarray(this.maxLine);
    }
    if (data.length > 0) {
      this.pending.push(Buffer.from(data));
      this.pendingBytes = data.length;
    }
  }

  /** The unfinished last line, if any (the port closed). */
  flush(): void {
    if (this.pendingBytes === 0) return;
    const rest = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.emitBounded(rest);
  }

  private emitBounded(line: Buffer): void {
    if (line.length === 0) {
      this.emit(Buffer.alloc(0));
      return;
    }
    for (let i = 0; i < line.length; i += this.maxLine) this.emit(Buffer.from(line.subarray(i, i + this.maxLine)));
  }
}
