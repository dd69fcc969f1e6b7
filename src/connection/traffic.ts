// One connection's traffic figures, as one object. What it got through groups that count per channel (native
// publishes) the router knows (Router.sharedTo).

export class Traffic {
  messagesIn = 0;
  bytesIn = 0;
  /** Written by the connection itself (control messages, stream deliveries). */
  messagesOwn = 0;
  bytesOwn = 0;

  countIn(bytes: number): void {
    this.messagesIn++;
    this.bytesIn += bytes;
  }

  countOut(bytes: number): void {
    this.messagesOwn++;
    this.bytesOwn += bytes;
  }
}
