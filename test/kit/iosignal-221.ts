// The published iosignal 2.2.1 clients (a dev dependency, loaded unmodified): the part of their API the tests use,
// and a bounded wait for one of their events.

export type Listener = (...args: unknown[]) => void;

/** The parts of the 2.2.1 client API (`IO`, `IOCongSocket`) the tests use. */
export interface Io221Client {
  cid: string;
  level: number;
  stateName: string;
  on(event: string, fn: Listener): unknown;
  off(event: string, fn: Listener): unknown;
  auth(id: string, key: string): void;
  open(url?: string): void;
  stop(): void;
  subscribe(tag: string): void;
  signal(tag: string, ...args: unknown[]): void;
}

export interface Iosignal221 {
  version: string;
  IO: new (url?: string) => Io221Client;
  IOCongSocket: new (url?: string) => Io221Client;
}

/** Loads the package the way a user's script would. */
export async function loadIosignal221(): Promise<Iosignal221> {
  return (await import('iosignal' as string)) as Iosignal221;
}

/** The next `event` whose arguments pass `pred`, or a rejection naming the event after `ms`. */
export function nextEvent(
  c: Io221Client,
  event: string,
  ms = 3000,
  pred: (args: unknown[]) => boolean = () => true,
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const fn: Listener = (...args) => {
      if (!pred(args)) return;
      clearTimeout(timer);
      c.off(event, fn);
      resolve(args);
    };
    const timer = setTimeout(() => {
      c.off(event, fn);
      reject(new Error(`iosignal 2.2.1 client: no '${event}' within ${ms} ms (state ${c.stateName})`));
    }, ms);
    c.on(event, fn);
  });
}
